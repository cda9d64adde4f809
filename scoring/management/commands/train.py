from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from scoring.services import model_train
from scoring.training import NotEnoughData, comparison_table


class Command(BaseCommand):
    help = (
        "Train LightGBM and the logistic-regression and random-forest baselines on all labeled stored events, "
        "register the calibrated LightGBM as a model version and write its report."
    )

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
        metrics = version.metrics
        self.stdout.write("")
        self.stdout.write("test period (newest labeled events):")
        self.stdout.write(comparison_table(metrics.get("candidates", {})))
        test = metrics.get("test", {})
        self.stdout.write(
            f"LightGBM (calibrated) average_precision {test.get('average_precision', float('nan')):.4f}, "
            f"roc_auc {test.get('roc_auc', float('nan')):.4f}, brier {test.get('brier', float('nan')):.4f}"
        )
        if not metrics.get("lightgbm_beats_baselines", False):
            self.stdout.write(self.style.WARNING("LightGBM did NOT beat both baselines on average precision"))
        self.stdout.write(f"report: {version.bundle_path}/report/report.html")
        self.stdout.write(self.style.SUCCESS(f"model {version.name} registered as {version.status}"))
