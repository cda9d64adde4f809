"""Bulk loads: look-up indexes and foreign keys set aside, then rebuilt.

Imports into the transactions table and batch scoring into the score table use it
(`scoring.store.bulk` names those two tables).

Keeping the look-up indexes (account, device, IP, merchant × time, time, event id) up to
date costs PostgreSQL more than everything else in a big import, and checking the sender
foreign key row by row comes next; building the indexes once from the loaded table and
checking the key in one pass are several times cheaper (see docs/benchmarks-history.md). The primary
key and the unique (sender, event_id) constraint stay, so a bulk load keeps every guarantee
of an ordinary one: rows are stored once, a re-run adds only what is missing, and the
dashboard triggers fire per chunk as usual (they cost next to nothing).

What is set aside comes from the model: `Meta.indexes` and the foreign keys the model
declares, so an index or key added there later is dropped and rebuilt with the others. A
load that dies half-way (killed, lost connection) leaves them missing; every import starts
by rebuilding them, and `indexes_restore()` does only that. A session-level advisory lock
marks a bulk load in progress, so another import does not rebuild indexes under it;
PostgreSQL releases the lock when the loading session ends, however it ends.
"""
from __future__ import annotations

import queue
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import DatabaseError, OperationalError, connection, models, transaction

# Memory for each index build's sort; a session setting, released when the build ends.
MAINTENANCE_WORK_MEM = "256MB"
# Sessions building indexes at the same time.
BUILD_SESSIONS = 2
# How long setting the indexes aside may wait for the table before the load keeps them.
LOCK_TIMEOUT = "5s"
# A load is bulk loaded when it brings at least this many new rows and at least as many as
# the table already holds: rebuilding the indexes costs about as much per stored row as keeping
# them up to date costs per new row (docs/benchmarks-history.md), so below that keeping them is cheaper.
BULK_MIN_ROWS = 100_000


@dataclass(frozen=True)
class BulkTable:
    """A table whose look-up indexes and foreign keys a big load sets aside and rebuilds.

    What is set aside comes from the model: `Meta.indexes` and the foreign keys it declares.
    The primary key and unique constraints always stay."""

    model: type[models.Model]

    @property
    def lock_key(self) -> int:
        return zlib.crc32(f"{self.model._meta.db_table} bulk load".encode())

    def secondary_indexes(self) -> list:
        """The table's look-up indexes, as the model declares them (not the key or unique constraints)."""
        return list(self.model._meta.indexes)

    def foreign_keys(self) -> list:
        """The model's fields whose database foreign key a bulk load checks once, after loading."""
        return [field for field in self.model._meta.concrete_fields if field.remote_field and field.db_constraint]

    def indexes_missing(self) -> list[str]:
        """Names of the model's indexes, and columns of its foreign keys, that the database lacks."""
        present = self._constraints()
        keyed = {tuple(c["columns"]) for c in present.values() if c["foreign_key"]}
        return [index.name for index in self.secondary_indexes() if index.name not in present] + [
            field.column for field in self.foreign_keys() if (field.column,) not in keyed
        ]

    def bulk_worthwhile(self, new_rows: int) -> bool:
        """Whether adding `new_rows` rows is cheaper with the indexes rebuilt after it."""
        return (connection.vendor == "postgresql" and new_rows >= BULK_MIN_ROWS
                and count_up_to(self.model.objects.all(), new_rows + 1) <= new_rows)

    def indexes_restore(self) -> list[str]:
        """Build the model's indexes that are missing, unless a bulk load holds them aside right now.

        Returns the names built. Safe to run at any time; does nothing on other databases.
        """
        if connection.vendor != "postgresql":
            return []
        if not self._try_lock():
            return []  # a bulk load in another session rebuilds them when it ends
        try:
            return self._build_missing()
        finally:
            self._unlock()

    @contextmanager
    def indexes_set_aside(self, *, rebuilding: Callable[[str], None] | None = None) -> Iterator[BulkLoad]:
        """Drop the secondary indexes and foreign keys for the body, rebuild them after it,
        whatever happens.

        They are not set aside when another session is bulk loading (its indexes are already
        gone; this load runs beside it and leaves the rebuild to it), nor inside a transaction
        (the rebuild must not be rolled back with the load). `rebuilding` is told when the
        rebuild starts, which takes a while on a big table.
        """
        state = BulkLoad()
        if connection.vendor != "postgresql" or connection.in_atomic_block or not self._try_lock():
            yield state
            return
        try:
            self._build_missing()  # an earlier load that died may have left some out
            state.set_aside = self._drop_all()
            if not state.set_aside:
                yield state
                return
            try:
                yield state
            finally:
                if rebuilding:
                    rebuilding("rebuilding indexes")
                began = time.perf_counter()
                self._build_missing()
                with connection.cursor() as cursor:
                    # Many new rows: give the planner fresh statistics now, not at autovacuum's pace.
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(self.model._meta.db_table)}")
                state.rebuild_seconds = time.perf_counter() - began
        finally:
            self._unlock()

    def _constraints(self) -> dict:
        with connection.cursor() as cursor:
            return connection.introspection.get_constraints(cursor, self.model._meta.db_table)

    def _drop_all(self) -> bool:
        """Drop the indexes and foreign keys in one short transaction; False if the table is busy."""
        table = connection.ops.quote_name(self.model._meta.db_table)
        columns = {field.column for field in self.foreign_keys()}
        try:
            with transaction.atomic(), connection.schema_editor(atomic=False) as editor:
                # Dropping needs the table to itself for a moment; rather than queue behind a long
                # query (and make every other query queue behind us), load with the indexes.
                editor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                for index in self.secondary_indexes():
                    editor.remove_index(self.model, index)
                for name, constraint in self._constraints().items():
                    if constraint["foreign_key"] and set(constraint["columns"]) <= columns:
                        editor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {connection.ops.quote_name(name)}")
        except OperationalError:
            return False
        return True

    def _build_missing(self) -> list[str]:
        missing = set(self.indexes_missing())
        if not missing:
            return []
        indexes = [index for index in self.secondary_indexes() if index.name in missing]
        if connection.in_atomic_block:
            # Other sessions would wait on this transaction's locks: build here, one by one.
            self._build_indexes(indexes)
        else:
            self._build_side_by_side(indexes)
        for field in self.foreign_keys():
            if field.column in missing:
                self._foreign_key_add(field)
        return sorted(missing)

    def _foreign_key_add(self, field) -> None:
        """Re-add the constraint Django's migration made (same name, DEFERRABLE) and check it
        against every stored row in one query. Added NOT VALID first (a moment's lock on both
        tables), then validated, which lets both tables take writes while it checks."""
        suffix = "_fk_%(to_table)s_%(to_column)s"
        with connection.schema_editor(atomic=False) as editor:
            name = str(editor._fk_constraint_name(self.model, field, suffix))  # already quoted
            add = f"{editor._create_fk_sql(self.model, field, suffix)} NOT VALID"
            table = editor.quote_name(self.model._meta.db_table)
            with transaction.atomic():
                editor.execute(add)
            with transaction.atomic():
                editor.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")

    def _build_side_by_side(self, indexes: list) -> None:
        """Build in BUILD_SESSIONS sessions at once, each taking the next index left as it finishes one.

        Side by side is faster than one after the other (docs/benchmarks-history.md); taking the next
        index rather than a fixed share keeps both sessions busy until the end, as the builds
        differ several-fold in cost."""
        pending: queue.SimpleQueue = queue.SimpleQueue()
        for index in indexes:
            pending.put(index)

        def build_until_none_left() -> None:
            try:
                while True:
                    try:
                        index = pending.get_nowait()
                    except queue.Empty:
                        return
                    self._build_indexes([index])
            finally:
                connection.close()  # this thread's own connection

        with ThreadPoolExecutor(max_workers=BUILD_SESSIONS, thread_name_prefix="index-build") as pool:
            for session in [pool.submit(build_until_none_left) for _ in range(BUILD_SESSIONS)]:
                session.result()

    def _build_indexes(self, indexes: list) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SHOW maintenance_work_mem")
            previous = cursor.fetchone()[0]
            cursor.execute(f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
        try:
            # One transaction each: what is built stays built if a later one fails.
            for index in indexes:
                with transaction.atomic(), connection.schema_editor(atomic=False) as editor:
                    editor.add_index(self.model, index)
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"SET maintenance_work_mem = '{previous}'")

    def _try_lock(self) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [self.lock_key])
            return cursor.fetchone()[0]

    def _unlock(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [self.lock_key])
        except DatabaseError:
            pass  # the session is gone, and its lock with it


@dataclass
class BulkLoad:
    """What `indexes_set_aside` did, for the report."""

    set_aside: bool = False  # whether the indexes were dropped for the load
    rebuild_seconds: float = 0.0


def count_up_to(rows: models.QuerySet, limit: int) -> int:
    """The rows of a query, counted no further than `limit`: a big table is not scanned."""
    with connection.cursor() as cursor:
        sql, params = rows.values("pk")[:limit].query.sql_with_params()
        cursor.execute(f"SELECT count(*) FROM ({sql}) AS stored", params)
        return cursor.fetchone()[0]
