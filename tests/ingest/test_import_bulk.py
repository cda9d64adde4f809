"""Bulk imports: look-up indexes dropped for the load and rebuilt, with every guarantee kept.

These tests commit for real (the indexes are rebuilt outside any transaction), so they use
transactional database tests.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import psycopg
import pytest
from django.db import connection

from core.db import bulk as core_bulk
from insights.models import DirtyHour, HourlyRollup
from insights.rollups import ROLLUP_KEY, ROLLUP_VALUES, rollups_rebuild, rollups_refresh
from scoring.store import bulk as bulkload
from scoring.store import events as loaders
from scoring.store.bulk import foreign_keys, indexes_missing, secondary_indexes
from synthetic.generator import write_world
from tests.support.imports import GENERATOR_MAPPING, ROOT, crash_on_second_chunk, generator_csv, run_import, stored, world
from triage.models import Transaction

pytestmark = pytest.mark.django_db(transaction=True)

COMPARED = ["event_id", "account_id", "timestamp", "event_type", "amount", "currency", "payment_status", "device_id",
            "ip_address", "latitude", "longitude", "country", "session_duration", "merchant_id", "category",
            "account_created_at", "attributes", "is_fraud", "label_known_at", "label_source", "scenario"]


def database_indexes() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.get_constraints(cursor, Transaction._meta.db_table))


def drop_secondary_indexes() -> None:
    """What a bulk load killed before its rebuild leaves behind: no look-up index, no sender key."""
    with connection.schema_editor() as editor:
        for index in secondary_indexes():
            editor.remove_index(Transaction, index)
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, Transaction._meta.db_table)
        for name, constraint in constraints.items():
            if constraint["foreign_key"]:
                editor.execute(f'ALTER TABLE {Transaction._meta.db_table} DROP CONSTRAINT "{name}"')


def other_session() -> psycopg.Connection:
    """A second connection to the test database, as another process would hold."""
    settings = connection.settings_dict
    return psycopg.connect(host=settings["HOST"], port=settings["PORT"] or 5432, user=settings["USER"],
                           dbname=settings["NAME"], autocommit=True)


def set_aside() -> set[str]:
    return {index.name for index in secondary_indexes()} | {field.column for field in foreign_keys()}


def test_what_is_set_aside_is_what_the_model_declares():
    declared = {index.name for index in Transaction._meta.indexes}
    assert {index.name for index in secondary_indexes()} == declared
    assert declared <= database_indexes()
    assert "txn_account_time" in declared  # the look-ups /score's features need
    assert [field.name for field in foreign_keys()] == ["client"]
    # The key and the idempotency constraint are never dropped.
    assert not {"triage_transaction_pkey", "unique_event_per_sender"} & set_aside()


def test_bulk_and_ordinary_imports_store_the_same_rows(tmp_path):
    path = generator_csv(tmp_path)
    bulk_output = run_import(path, source="bulk", bulk=True)
    ordinary_output = run_import(path, source="ordinary", bulk=False)
    assert "bulk load: look-up indexes dropped for the load, rebuilt in" in bulk_output
    assert "bulk load" not in ordinary_output
    assert f"added {len(world()):,}, already present 0" in bulk_output
    bulk, ordinary = stored("bulk"), stored("ordinary")
    assert len(bulk) == len(world())
    pd.testing.assert_frame_equal(bulk[COMPARED], ordinary[COMPARED])
    assert indexes_missing() == []


def test_a_bulk_reimport_adds_nothing_and_keeps_every_index(tmp_path):
    path = generator_csv(tmp_path)
    run_import(path, bulk=True)
    before = database_indexes()
    output = run_import(path, bulk=True)
    assert f"added 0, already present {len(world()):,}" in output
    assert Transaction.objects.count() == len(world())
    assert database_indexes() == before


def test_a_load_that_fails_midway_still_rebuilds_the_indexes(tmp_path, monkeypatch):
    path = generator_csv(tmp_path, world().head(250))
    with monkeypatch.context() as patched:
        crash_on_second_chunk(patched)
        with pytest.raises(RuntimeError):
            run_import(path, chunk_size=100, bulk=True)
    assert Transaction.objects.count() == 100  # whole chunks only
    assert indexes_missing() == []
    assert "added 150, already present 100" in run_import(path, chunk_size=100, bulk=True)


def test_chunks_stored_side_by_side_commit_in_the_files_order(tmp_path, monkeypatch):
    """The third chunk, written in the other session while the second fails, is not committed."""
    second, third = world()["event_id"].iloc[[100, 200]]
    written = []
    real_load = loaders._store_direct

    def slow_to_fail_on_the_second(batch):
        added = real_load(batch)
        written.append(batch.rows["event_id"].iloc[0])
        if written[-1] == second:
            time.sleep(0.5)  # time for the third to be written meanwhile
            raise RuntimeError("worker killed")
        return added

    monkeypatch.setattr(loaders, "_store_direct", slow_to_fail_on_the_second)
    with pytest.raises(RuntimeError):
        run_import(generator_csv(tmp_path, world().head(250)), chunk_size=100)
    assert third in written
    assert Transaction.objects.count() == 100  # the first chunk only


def test_indexes_left_out_by_a_killed_load_come_back_with_the_next_import(tmp_path):
    path = generator_csv(tmp_path, world().head(250))
    run_import(path, source="first")
    drop_secondary_indexes()
    assert set(indexes_missing()) == set_aside()
    # An ordinary import (nothing new, no bulk load) repairs the table first.
    assert "added 0, already present 250" in run_import(path, source="first", bulk=False)
    assert indexes_missing() == []


def test_indexes_come_back_with_a_bulk_import_too(tmp_path):
    drop_secondary_indexes()
    run_import(generator_csv(tmp_path, world().head(250)), bulk=True)
    assert indexes_missing() == []


def test_an_import_leaves_alone_the_indexes_another_bulk_load_holds_aside(tmp_path):
    drop_secondary_indexes()
    with other_session() as other:
        other.execute("SELECT pg_advisory_lock(%s)", [bulkload._LOCK_KEY])  # a bulk load in progress elsewhere
        output = run_import(generator_csv(tmp_path, world().head(250)), bulk=True)
        assert "added 250" in output and "bulk load" not in output
        assert set(indexes_missing()) == set_aside()  # its rebuild is its own business
    # That session is gone, and its lock with it: the next import repairs the table.
    run_import(generator_csv(tmp_path, world().head(250)))
    assert indexes_missing() == []


def test_the_choice_is_automatic_for_a_big_first_load_and_not_for_a_repeat(tmp_path, monkeypatch):
    monkeypatch.setattr(core_bulk, "BULK_MIN_ROWS", 200)
    path = generator_csv(tmp_path)
    assert "bulk load" in run_import(path)  # a new source into an empty table
    assert "bulk load" not in run_import(path)  # nothing new in it
    small = write_world(world().head(250), tmp_path / "small.csv")
    assert "bulk load" not in run_import(small, source="small")  # 250 rows into a table of thousands


def test_dashboard_rollups_are_right_after_a_bulk_import(tmp_path):
    frame = world()
    run_import(generator_csv(tmp_path), bulk=True)
    hours = frame["timestamp"].dt.floor("h").nunique()
    assert DirtyHour.objects.exists()
    assert rollups_refresh(max_hours=hours + 10) == hours
    incremental = sorted(HourlyRollup.objects.values_list(*ROLLUP_KEY, *ROLLUP_VALUES))
    assert sum(events for events in HourlyRollup.objects.values_list("events", flat=True)) == len(frame)
    rollups_rebuild()
    assert sorted(HourlyRollup.objects.values_list(*ROLLUP_KEY, *ROLLUP_VALUES)) == incremental


def test_a_busy_table_keeps_its_indexes_and_still_loads(tmp_path, monkeypatch):
    monkeypatch.setattr(core_bulk, "LOCK_TIMEOUT", "200ms")
    with other_session() as other, other.transaction():
        # A long report reading the table: dropping an index would have to wait for it.
        other.execute(f"SELECT count(*) FROM {Transaction._meta.db_table}")
        output = run_import(generator_csv(tmp_path, world().head(250)), bulk=True)
    assert "added 250" in output and "bulk load" not in output
    assert indexes_missing() == []


def test_an_import_process_killed_mid_load_is_completed_and_repaired_by_the_next(tmp_path):
    """A real `import_events` process, killed (SIGKILL: no clean-up runs) while its indexes are down."""
    path = generator_csv(tmp_path)
    db = connection.settings_dict
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base",
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "import_events", str(path), "--mapping", str(GENERATOR_MAPPING), "--bulk",
         "--chunk-size", "5", "--verbosity", "0"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (indexes_missing() and Transaction.objects.exists()):  # set aside, and loading
            assert process.poll() is None and time.monotonic() < deadline, "the import ended before it could be killed"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert set(indexes_missing()) == set_aside()
    stored_before = Transaction.objects.count()
    assert 0 < stored_before < len(world())
    with other_session() as other:  # PostgreSQL notices the dead session and frees its lock
        deadline = time.monotonic() + 10
        while other.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid::bigint = %s "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [bulkload._LOCK_KEY],
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the killed session's lock was never released"
            time.sleep(0.05)

    output = run_import(path)
    assert f"added {len(world()) - stored_before:,}, already present {stored_before:,}" in output
    assert indexes_missing() == []
    assert Transaction.objects.count() == Transaction.objects.values("event_id").distinct().count() == len(world())
