from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from scoring.services import model_train
from scoring.training import NotEnoughData


class Command(BaseCommand):
    help = "Train a LightGBM model on all labeled stored events and register it as a model version."

    def add_arguments(self, parser):
        parser.add_argument(
            "--promote", choices=["if-none", "always", "never"], default="if-none",
            help="make the new version champion: only if there is none (default), always, or never",
        )

    def handle(self, *args, **opts):
        try:
            version = model_train(promote=opts["promote"], progress=lambda m: self.stdout.write(f"· {m}"))
        except NotEnoughData as exc:
            raise CommandError(str(exc)) from exc
        test = version.metrics.get("test", {})
        self.stdout.write("")
        self.stdout.write(f"{'metric (test period)':<28}{'value':>10}")
        for key in ("roc_auc", "average_precision"):
            self.stdout.write(f"{key:<28}{test.get(key, float('nan')):>10.3f}")
        for tier in ("high", "medium"):
            row = test.get(f"{tier}_tier", {})
            self.stdout.write(f"{tier + ' tier precision':<28}{row.get('precision', 0):>10.3f}")
            self.stdout.write(f"{tier + ' tier recall':<28}{row.get('recall', 0):>10.3f}")
        self.stdout.write(self.style.SUCCESS(f"model {version.name} registered as {version.status}"))
