from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand
from tqdm import tqdm

from accounts.services import import_source_get_or_create
from scoring.store.events import events_load
from synthetic.generator import WorldConfig, generate_world, write_world

SOURCE_NAME = "synthetic-history"


class Command(BaseCommand):
    help = "Generate a synthetic fraud world; store its labeled history and/or write it to CSV/Parquet."

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=1500)
        parser.add_argument("--days", type=int, default=45)
        parser.add_argument("--unlabeled-days", type=int, default=5)
        parser.add_argument("--fraud-prevalence", type=float, default=0.02)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--out", type=Path, help="also write the whole world to this .csv or .parquet file")
        parser.add_argument("--no-db", action="store_true", help="do not store anything in the database")

    def handle(self, *args, **opts):
        config = WorldConfig(
            accounts=opts["accounts"], days=opts["days"], unlabeled_days=opts["unlabeled_days"],
            fraud_prevalence=opts["fraud_prevalence"], seed=opts["seed"],
        )
        with tqdm(desc="generating", unit="events", disable=opts["verbosity"] == 0) as bar:
            world = generate_world(config, progress=bar.update)
        self.stdout.write(f"generated {len(world):,} events, fraud share {world['is_fraud'].mean():.3%}")
        if opts["out"]:
            path = write_world(world, opts["out"])
            self.stdout.write(f"wrote {path}")
        if not opts["no_db"]:
            history = world[world["period"] == "history"]
            client = import_source_get_or_create(name=SOURCE_NAME)
            with tqdm(total=len(history), desc="storing", unit="events", disable=opts["verbosity"] == 0) as bar:
                added = events_load(frame=history, client=client, progress=bar.update)
            self.stdout.write(self.style.SUCCESS(f"stored {added:,} labeled history events ({len(history) - added:,} already present)"))
        return None
