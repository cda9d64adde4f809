from __future__ import annotations

from django.core.management.base import BaseCommand
from tqdm import tqdm

from insights.accounts import account_risk_refresh
from insights.rollups import rollup_days, rollups_rebuild


class Command(BaseCommand):
    help = "Recompute every hourly rollup (and the account risk table) from the stored events and scores."

    def add_arguments(self, parser):
        parser.add_argument("--skip-accounts", action="store_true", help="only the hourly rollups")

    def handle(self, *args, **opts):
        quiet = opts["verbosity"] == 0
        with tqdm(total=rollup_days(), desc="rollups", unit="day", disable=quiet) as bar:
            rows = rollups_rebuild(progress=bar.update)
        self.stdout.write(f"{rows:,} hourly rollup rows")
        if not opts["skip_accounts"]:
            accounts = account_risk_refresh(progress=None if quiet else self.stdout.write)
            self.stdout.write(f"{accounts:,} accounts profiled")
