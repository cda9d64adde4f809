from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ingest.files import ImportFileError, MappingError, events_read, mapping_load
from learning.lifecycle import training_config
from ml.backtest import MODELS, Fold, backtest, comparison_lines, weekly_folds
from ml.training import TrainingConfig


def _stamp(text: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise CommandError(f"{text!r} is not a date or time (use e.g. 2020-12-01 or 2020-12-01T00:00Z)") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


class Command(BaseCommand):
    help = (
        "Prequential backtest: train as of a day on the labels known by then, score the period after the "
        "label delay, and compare our model with logistic regression, a random forest and a textbook "
        "gradient boosting on the same folds. Reads stored events, or a file through a mapping (nothing is "
        "stored). Prints a table; --json writes every figure."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", type=Path, help="a CSV or Parquet file to backtest instead of the stored events")
        parser.add_argument("--mapping", type=Path, help="the file's mapping (see docs/data.md); needed with --file")
        parser.add_argument("--train-until", help="one fold: train on events before this time, with labels known by it")
        parser.add_argument("--test-from", help="the fold's test period starts here (default: --train-until + the delay)")
        parser.add_argument("--test-until", help="the (last) test period ends here (default: a week after --test-from, "
                            "or the newest event)")
        parser.add_argument("--folds", type=int, default=4,
                            help="without --train-until: this many weekly test periods ending at --test-until (default 4)")
        parser.add_argument("--test-days", type=float, default=7.0, help="length of each test period in days (default 7)")
        parser.add_argument("--delay-days", type=float, default=7.0,
                            help="label delay in days: labels become known this long after the event (default 7)")
        parser.add_argument("--train-days", type=float,
                            help="train on this many days before each cut (default: all earlier history)")
        parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="models to compare")
        parser.add_argument("--capacity", type=int, default=settings.REVIEWER_CAPACITY_PER_DAY,
                            help="reviews a day the high tier is cut for (default: REVIEWER_CAPACITY_PER_DAY)")
        parser.add_argument("--trials", type=int, default=TrainingConfig.trials, help="LightGBM parameter sets tried")
        parser.add_argument("--seed", type=int, default=TrainingConfig.seed)
        parser.add_argument("--json", type=Path, help="write every figure to this JSON file")

    def handle(self, *args, **opts):
        if opts["folds"] < 1 or opts["test_days"] <= 0 or opts["delay_days"] < 0 or opts["trials"] < 1:
            raise CommandError("--folds, --test-days and --trials must be positive and --delay-days not negative")
        events = self._events(opts)
        if events.empty:
            raise CommandError("no events to backtest")
        folds = self._folds(opts, events)
        config = training_config(capacity_per_day=opts["capacity"], gap_days=opts["delay_days"],
                                 trials=opts["trials"], seed=opts["seed"])
        quiet = opts["verbosity"] == 0
        with tqdm(total=len(folds) + 1, desc="backtest", unit="step", disable=quiet) as bar:
            def progress(message: str) -> None:
                bar.set_postfix_str(message[:60])
                if message.startswith("fold") or message.startswith("computing the textbook"):
                    bar.update(1)
                if not quiet:
                    tqdm.write(f"· {message}", file=self.stdout)

            result = backtest(events, folds, config, models=opts["models"], delay_days=opts["delay_days"],
                              progress=progress)
        result.settings["source"] = str(opts["file"]) if opts["file"] else "stored events"
        self.stdout.write("")
        for line in comparison_lines(result):
            self.stdout.write(line)
        if opts["json"]:
            opts["json"].write_text(json.dumps(result.as_dict(), indent=2, default=str))
            self.stdout.write(f"figures: {opts['json']}")
        if not result.summary:
            raise CommandError("no fold had fraud in its training, validation and test periods")

    def _events(self, opts) -> pd.DataFrame:
        if opts["file"]:
            if not opts["mapping"]:
                raise CommandError("--file needs --mapping")
            try:
                events, rejected = events_read(opts["file"], mapping_load(opts["mapping"]))
            except (MappingError, ImportFileError) as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"read {len(events):,} events from {opts['file']} ({rejected:,} rows rejected)")
            return events
        if opts["mapping"]:
            raise CommandError("--mapping is for --file")
        from scoring.selectors import events_frame

        events = events_frame()
        events["is_fraud"] = events["is_fraud"].astype("float64")
        return events

    def _folds(self, opts, events: pd.DataFrame) -> list[Fold]:
        times = pd.to_datetime(events["timestamp"], utc=True)
        delay = pd.Timedelta(days=opts["delay_days"])
        test_len = pd.Timedelta(days=opts["test_days"])
        if opts["train_until"]:
            train_until = _stamp(opts["train_until"])
            test_from = _stamp(opts["test_from"]) if opts["test_from"] else train_until + delay
            test_until = _stamp(opts["test_until"]) if opts["test_until"] else test_from + test_len
            if test_from < train_until:
                raise CommandError("--test-from must not be before --train-until")
            if test_until <= test_from:
                raise CommandError("--test-until must be after --test-from")
            train_from = None if opts["train_days"] is None else train_until - pd.Timedelta(days=opts["train_days"])
            return [Fold(train_from, train_until, test_from, test_until)]
        if opts["test_from"]:
            raise CommandError("--test-from goes with --train-until (several folds are placed by --test-until)")
        test_until = _stamp(opts["test_until"]) if opts["test_until"] else times.max() + pd.Timedelta(milliseconds=1)
        folds = weekly_folds(test_until=test_until, folds=opts["folds"], test_days=opts["test_days"],
                             delay_days=opts["delay_days"], train_days=opts["train_days"])
        if folds[0].train_until <= times.min():
            raise CommandError(
                f"the events start {times.min():%Y-%m-%d}: {opts['folds']} folds of {opts['test_days']:g} days "
                f"and a {opts['delay_days']:g}-day delay leave the first fold nothing to train on; use fewer --folds")
        return folds
