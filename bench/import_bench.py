"""Benchmark: importing a generated history file into PostgreSQL with import_events' machinery.

    python bench/import_bench.py                     # ~1 M rows, CSV
    python bench/import_bench.py --rows 200000 --format parquet
    python bench/import_bench.py --no-bulk           # keep the indexes during every load

Generates about `--rows` events with the synthetic world, writes them to a temporary CSV or
Parquet file, then imports the file into a dedicated database (created and migrated when
missing; its transactions table is emptied first) through the example generator mapping.
Prints rows/s for the first import, for a second import of the same file, which must add
nothing, and for the same file imported as another source (all rows new, into a table that
already holds as many). Budget (docs/benchmarks.md): at least 50,000 rows/s into PostgreSQL.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/fraud_bench_import"
EVENTS_PER_ACCOUNT = 60 * 0.8  # the generator's rate over a 60-day world


def _database_ready(url: str) -> None:
    """Create the benchmark database when it does not exist yet."""
    import psycopg
    from urllib.parse import urlparse

    name = urlparse(url).path.lstrip("/")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def cpu_seconds(since: float) -> float:
    return time.process_time() - since


def backend_cpu_seconds(pid: int) -> float | None:
    """CPU used so far by a PostgreSQL backend on this machine (None when it runs elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="about how many events (default 1,000,000)")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--chunk-size", type=int, default=None, help="rows per committed chunk (default: the importer's)")
    parser.add_argument("--bulk", action=argparse.BooleanOptionalAction, default=None,
                        help="force the bulk load (indexes rebuilt after it) on or off; default: the importer's choice")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE))
    args = parser.parse_args(argv)

    _database_ready(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from tqdm import tqdm

    from accounts.services import import_source_get_or_create
    from synthetic.generator import WorldConfig, generate_world, write_world
    from ingest.files import events_import, mapping_load
    from scoring.store.events import CHUNK

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE triage_transaction CASCADE")
    mapping = mapping_load(ROOT / "examples" / "mappings" / "generator.yaml")
    client = import_source_get_or_create(name=mapping.source)
    chunk_size = args.chunk_size or CHUNK

    accounts = max(20, round(args.rows / EVENTS_PER_ACCOUNT))
    world = generate_world(WorldConfig(accounts=accounts, days=60))
    with tempfile.TemporaryDirectory() as tmp:
        path = write_world(world, Path(tmp) / f"events.{args.format}")
        print(f"file            {path.name}, {len(world):,} rows, {path.stat().st_size / 1e6:,.0f} MB")
        print(f"database        {connection.settings_dict['NAME']} (PostgreSQL {connection.pg_version // 10000})")
        print(f"chunk size      {chunk_size:,} rows per transaction")
        del world
        other = import_source_get_or_create(name=f"{mapping.source}-again")
        # The same file as another source: all rows new, into a table already holding them once.
        for attempt, source in (("first import", client), ("second import", client), ("into a full table", other)):
            connection.ensure_connection()
            backend = connection.connection.info.backend_pid
            began_backend = backend_cpu_seconds(backend)
            with tqdm(total=None, desc=attempt, unit="rows", leave=False) as bar:
                began, began_cpu = time.perf_counter(), time.process_time()
                result = events_import(path=path, mapping=mapping, client=source, chunk_size=chunk_size,
                                       bulk=args.bulk, progress=bar.update)
                seconds = time.perf_counter() - began
            print(f"{attempt:<16}{seconds:6.1f} s  {result.rows / seconds:>9,.0f} rows/s  "
                  f"added {result.added:,}, already present {result.already_present:,}, rejected {result.rejected:,}")
            print(f"{'':<16}of which {result.store_seconds:.1f} s storing (COPY, insert, commit)"
                  + (f", {result.index_seconds:.1f} s rebuilding indexes (bulk load)" if result.bulk else "")
                  + f"; CPU of this process {cpu_seconds(began_cpu):.1f} s")
            if began_backend is not None:
                # The storing sessions, the index-building ones and their parallel workers are
                # other processes: not counted here.
                print(f"{'':<16}PostgreSQL CPU of the importer's own session {backend_cpu_seconds(backend) - began_backend:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
