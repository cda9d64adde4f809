from __future__ import annotations

import csv
from datetime import datetime, time
from datetime import timezone as dt_timezone
from pathlib import Path

import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from core.files import written_whole
from insights.batch import offboarding_batch
from insights.segments import Criteria
from scoring.registry import ModelUnavailable, champion_model
from scoring.selectors import events_frame
from synthetic.generator import read_world

COLUMNS = ("account_id", "segment", "offboard", "points", "events", "max_score", "high_events", "confirmed_frauds",
           "failed_payments", "devices", "ips", "ring_links", "amount_sum")


class Command(BaseCommand):
    help = (
        "Risk segments and the off-boarding list for a batch of events (a CSV/Parquet file in the generator's "
        "format, or stored events in a date range), scored with the champion model. Writes a CSV, prints a summary."
    )

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--file", type=Path, help="events file (.csv or .parquet) in the generator's format")
        source.add_argument("--stored", action="store_true", help="use stored events (see --since / --until)")
        parser.add_argument("--since", type=_date, help="first day (UTC) of stored events, YYYY-MM-DD")
        parser.add_argument("--until", type=_date, help="last day (UTC) of stored events, inclusive")
        parser.add_argument("--ignore-labels", action="store_true", help="treat every event as unlabeled")
        parser.add_argument("--out", type=Path, default=Path("var/offboarding.csv"), help="CSV to write (default var/offboarding.csv)")
        parser.add_argument("--all-accounts", action="store_true", help="write every account, not only those to off-board")

    def handle(self, *args, **opts):
        opts["out"] = Path(opts["out"])
        opts["file"] = Path(opts["file"]) if opts["file"] else None
        for key in ("since", "until"):  # strings when called from code
            if isinstance(opts[key], str):
                opts[key] = _date(opts[key])
        events = self._events(opts)
        if events.empty:
            raise CommandError("no events in the batch")
        try:
            model = champion_model()
        except ModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"scoring {len(events):,} events with {model.version_name}")
        report = offboarding_batch(events=events, model=model, criteria=Criteria.from_settings(), use_labels=not opts["ignore_labels"])
        rows = report.accounts if opts["all_accounts"] else report.accounts[report.accounts["offboard"]]
        rows = rows.sort_values(["points", "max_score"], ascending=False)
        self._write(rows, opts["out"])
        self.stdout.write(f"{report.events:,} events ({report.labeled:,} with a known label), {len(report.accounts):,} accounts")
        self.stdout.write("segment   accounts  share  off-board  avg events  avg max score  with fraud  avg failed  avg devices  ring-linked")
        for s in report.summary.itertuples(index=False):
            max_score = "-" if s.avg_max_score is None or pd.isna(s.avg_max_score) else f"{s.avg_max_score:.1f}"
            self.stdout.write(
                f"{s.segment:<9}{s.accounts:>9,}{s.share:>7.1%}{s.offboard:>11,}{s.avg_events:>12.1f}{max_score:>15}"
                f"{s.with_confirmed_fraud:>12.1%}{s.avg_failed_payments:>12.2f}{s.avg_devices:>13.2f}{s.with_ring_links:>13.1%}"
            )
        self.stdout.write(f"wrote {len(rows):,} accounts to {opts['out']}")

    def _events(self, opts) -> pd.DataFrame:
        if opts["file"]:
            if not opts["file"].exists():
                raise CommandError(f"no such file: {opts['file']}")
            try:
                return read_world(opts["file"])
            except (KeyError, ValueError) as exc:
                raise CommandError(f"{opts['file']} is not in the generator's format: {exc}") from exc
        frame = events_frame()
        if opts["since"]:
            frame = frame[frame["timestamp"] >= datetime.combine(opts["since"], time.min, tzinfo=dt_timezone.utc)]
        if opts["until"]:
            frame = frame[frame["timestamp"] < datetime.combine(opts["until"], time.max, tzinfo=dt_timezone.utc)]
        return frame.reset_index(drop=True)

    def _write(self, rows: pd.DataFrame, path: Path) -> None:
        with written_whole(path) as partial, partial.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([*COLUMNS, "offboard_reasons", "factors", "model_reasons"])
            for row in rows.itertuples(index=False):
                writer.writerow([
                    *(getattr(row, c) for c in COLUMNS),
                    "; ".join(r["text"] for r in row.offboard_reasons),
                    "; ".join(r["text"] for r in row.reasons),
                    "; ".join(row.model_reasons),
                ])


def _date(value: str):
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from None
