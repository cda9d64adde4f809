from __future__ import annotations

import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from learning.lifecycle import model_train, training_config
from ml.training import NotEnoughData, TrainingConfig, comparison_table


def _stamp(text: str, option: str):
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise CommandError(f"{option}: {text!r} is not a date or time (use e.g. 2020-12-01 or 2020-12-01T00:00Z)") from None
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).to_pydatetime()


class Command(BaseCommand):
    help = (
        "Train LightGBM and the logistic-regression and random-forest baselines on the labeled stored events, "
        "register the calibrated LightGBM as a model version and write its report. The same events and the "
        "same --seed give the same model file."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--promote", choices=["if-none", "always", "never"], default="if-none",
            help="make the new version champion: only if there is none (default), always, or never",
        )
        parser.add_argument("--until", help="train as of this time: events before it, only labels known by it "
                            "(default: now)")
        parser.add_argument("--from", dest="since", help="learn only from events from this time on (older events "
                            "still count as the history features look back on)")
        parser.add_argument("--seed", type=int, default=TrainingConfig.seed,
                            help=f"random seed for sampling and LightGBM (default {TrainingConfig.seed})")
        parser.add_argument("--trials", type=int, default=TrainingConfig.trials,
                            help=f"LightGBM parameter sets tried on the validation period (default {TrainingConfig.trials})")

    def handle(self, *args, **opts):
        until = _stamp(opts["until"], "--until") if opts["until"] else None
        since = _stamp(opts["since"], "--from") if opts["since"] else None
        if until and since and since >= until:
            raise CommandError("--from must be before --until")
        if opts["trials"] < 1:
            raise CommandError("--trials must be at least 1")
        config = training_config(seed=opts["seed"], trials=opts["trials"])
        try:
            version = model_train(config=config, promote=opts["promote"], until=until, since=since,
                                  progress=lambda m: self.stdout.write(f"· {m}"))
        except NotEnoughData as exc:
            raise CommandError(str(exc)) from exc
        metrics = version.metrics
        self.stdout.write("")
        self.stdout.write("test period (newest labeled events; the model's trials chose on the period before it):")
        self.stdout.write(comparison_table(metrics.get("candidates", {})))
        test = metrics.get("test", {})
        self.stdout.write(
            f"LightGBM (calibrated) average_precision {test.get('average_precision', float('nan')):.4f}, "
            f"roc_auc {test.get('roc_auc', float('nan')):.4f}, brier {test.get('brier', float('nan')):.4f}"
        )
        if not metrics.get("lightgbm_beats_baselines", False):
            self.stdout.write(self.style.WARNING("LightGBM did NOT beat both baselines on average precision"))
        self.stdout.write("for figures over several weeks, each trained as of its own day: manage.py backtest")
        self.stdout.write(f"report: {version.bundle_path}/report/report.html")
        self.stdout.write(self.style.SUCCESS(f"model {version.name} registered as {version.status}"))
