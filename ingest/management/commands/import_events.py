from __future__ import annotations

import argparse
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.services import import_source_get_or_create
from ingest.files import (
    ImportFileError,
    MappingError,
    events_import,
    file_columns,
    file_row_estimate,
    mapping_load,
    mapping_warnings,
)
from scoring.store.events import CHUNK


class Command(BaseCommand):
    help = (
        "Import labeled event history from a CSV or Parquet file, mapped onto the data contract by a "
        "JSON or YAML mapping (see docs/data.md). Rejected rows go to a reject file with the reason."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help=".csv (also .csv.gz) or .parquet file")
        parser.add_argument("--mapping", type=Path, required=True, help="JSON or YAML mapping of the file's columns")
        parser.add_argument("--source", help="name of the import source (default: the mapping's `source`, else 'import')")
        parser.add_argument("--rejects", type=Path, help="where to write rejected rows (default: <file>.rejects.csv)")
        parser.add_argument("--chunk-size", type=int, default=CHUNK, help=f"rows per committed chunk (default {CHUNK})")
        parser.add_argument(
            "--single-transaction", action="store_true",
            help="commit the whole file at once instead of chunk by chunk (all or nothing)",
        )
        parser.add_argument(
            "--bulk", action=argparse.BooleanOptionalAction, default=None,
            help="drop the table's look-up indexes for the load and rebuild them after it (PostgreSQL); "
            "default: when the file brings at least as many new rows as the table holds (and 100,000 or more)",
        )

    def handle(self, *args, **opts):
        if opts["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1")
        try:
            mapping = mapping_load(opts["mapping"])
            total = file_row_estimate(opts["file"]) if opts["file"].is_file() else None
            if total is not None:
                for warning in mapping_warnings(mapping, file_columns(opts["file"], mapping)):
                    self.stderr.write(self.style.WARNING(f"warning: {warning}"))
            client = import_source_get_or_create(name=opts["source"] or mapping.source)
            with tqdm(total=total, desc="importing", unit="rows", disable=opts["verbosity"] == 0) as bar:
                result = events_import(
                    path=opts["file"], mapping=mapping, client=client, rejects_path=opts["rejects"],
                    chunk_size=opts["chunk_size"], single_transaction=opts["single_transaction"], bulk=opts["bulk"],
                    progress=bar.update, phase=bar.set_postfix_str,
                )
        except (MappingError, ImportFileError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"read {result.rows:,} rows: accepted {result.accepted:,} "
            f"(added {result.added:,}, already present {result.already_present:,}), rejected {result.rejected:,}"
        )
        if result.bulk:
            self.stdout.write(f"bulk load: look-up indexes dropped for the load, rebuilt in {result.index_seconds:.1f} s")
        if result.rejects_path:
            self.stdout.write(self.style.WARNING(f"rejected rows and their reasons: {result.rejects_path}"))
        if result.rows and not result.accepted:
            raise CommandError(f"every one of the {result.rows:,} rows was rejected; nothing was imported "
                               f"(reasons in {result.rejects_path})")
        if not result.rows:
            raise CommandError(f"{opts['file']} has no rows to import")
        return None
