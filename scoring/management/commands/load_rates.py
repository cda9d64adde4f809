from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from scoring.rates import rates_load


class Command(BaseCommand):
    help = (
        "Load dated exchange rates from a CSV (date,currency,rate: units of the reporting currency, "
        "REPORTING_CURRENCY, per unit). Money figures are converted with them. Bad rows are listed and skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="CSV with columns date (YYYY-MM-DD), currency (ISO 4217), rate")

    def handle(self, *args, **opts):
        if not opts["file"].is_file():
            raise CommandError(f"{opts['file']} is not a file")
        try:
            result = rates_load(path=opts["file"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for reject in result.rejected[:50]:
            self.stderr.write(self.style.WARNING(f"line {reject['line']}: {reject['reason']}"))
        if len(result.rejected) > 50:
            self.stderr.write(self.style.WARNING(f"… and {len(result.rejected) - 50} more refused rows"))
        self.stdout.write(f"stored {result.stored:,} rates in {settings.REPORTING_CURRENCY}; refused {len(result.rejected):,} rows")
        if not result.stored:
            raise CommandError("no rate was stored")
