from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from scoring.batch import BatchModel, score_frame, tier_summary, write_scores
from scoring.features import HISTORY_WINDOW_MS
from scoring.generator import read_world
from scoring.models import ModelVersion
from scoring.registry import ModelUnavailable, champion_model, load_version
from scoring.selectors import events_frame


class Command(BaseCommand):
    help = (
        "Score a file of events (CSV or Parquet in the generator's format) or the stored events of a date range "
        "with the champion model; write probabilities, tiers and reasons to CSV or Parquet."
    )

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--file", type=Path, help="events to score (.csv or .parquet)")
        source.add_argument("--start", help="score stored events from this date/time (UTC, ISO 8601) …")
        parser.add_argument("--end", help="… up to this date/time, exclusive (default: now)")
        parser.add_argument("--out", type=Path, required=True, help="where to write the scores (.csv or .parquet)")
        parser.add_argument("--high-out", type=Path, help="also write only the high tier here, riskiest first")
        parser.add_argument("--model", help="score with this model version (name) instead of the champion")
        parser.add_argument(
            "--ignore-labels", action="store_true",
            help="drop the file's labels; by default labels feed the entity fraud rates, each only from the time "
                 "it became known (without any labels every device, IP and merchant looks new to the model)",
        )
        parser.add_argument(
            "--reasons-for", choices=["high", "medium"], default="high",
            help="give reasons for the high tier only (default) or for high and medium",
        )

    def handle(self, *args, **opts):
        for key in ("file", "out", "high_out"):  # call_command passes strings as given
            opts[key] = Path(opts[key]) if opts.get(key) else None
        model = self._model(opts["model"])
        events, mask = self._events(opts)
        if not mask.any():
            raise CommandError("no events to score in that file or range")
        self.stdout.write(f"scoring {int(mask.sum()):,} events ({len(events):,} with history) with {model.name}")
        with tqdm(total=len(events) + int(mask.sum()), unit="events", disable=opts["verbosity"] == 0) as bar:
            scored = score_frame(
                events, model, score_mask=mask, default_event_value=settings.DEFAULT_EVENT_VALUE,
                explain_tiers=("high",) if opts["reasons_for"] == "high" else ("high", "medium"),
                progress=lambda stage, n: (bar.set_description(stage), bar.update(n)),
            )
        path = write_scores(scored, opts["out"])
        self.stdout.write(f"wrote {len(scored):,} scores to {path}")
        if opts["high_out"]:
            high = scored[scored["tier"] == "high"].sort_values("expected_loss", ascending=False)
            self.stdout.write(f"wrote {len(high):,} high-tier events to {write_scores(high, opts['high_out'])}")
        summary = tier_summary(scored)
        self.stdout.write("")
        self.stdout.write(f"{'tier':<8}{'events':>12}{'share':>9}{'mean p':>10}{'expected loss':>16}")
        for tier, row in summary.iterrows():
            self.stdout.write(
                f"{tier:<8}{row['events']:>12,}{row['share']:>9.2%}{row['mean_probability']:>10.4f}{row['expected_loss']:>16,.0f}"
            )

    def _model(self, name: str | None) -> BatchModel:
        try:
            if name:
                version = ModelVersion.objects.filter(name=name).first()
                if version is None:
                    raise CommandError(f"no model version named {name!r}")
                loaded = load_version(version)
            else:
                loaded = champion_model()
        except ModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        return BatchModel(
            name=loaded.version_name, booster=loaded.booster, feature_names=loaded.feature_names,
            thresholds=loaded.thresholds, calibration=loaded.manifest["calibration"],
        )

    def _events(self, opts) -> tuple[pd.DataFrame, "pd.Series"]:
        if opts["file"]:
            if not opts["file"].exists():
                raise CommandError(f"no file at {opts['file']}")
            try:
                events = read_world(opts["file"])
            except (KeyError, ValueError) as exc:
                raise CommandError(f"{opts['file']} is not in the generator's event format: {exc}") from exc
            if opts["ignore_labels"]:
                events["is_fraud"] = float("nan")
            events["is_fraud"] = events["is_fraud"].astype("float64")
            return events, pd.Series(True, index=events.index).to_numpy()
        try:
            start = pd.Timestamp(opts["start"], tz="UTC") if pd.Timestamp(opts["start"]).tzinfo is None else pd.Timestamp(opts["start"])
            end = pd.Timestamp(opts["end"] or pd.Timestamp.now(tz="UTC"))
            end = end.tz_localize("UTC") if end.tzinfo is None else end
        except ValueError as exc:
            raise CommandError(f"--start/--end must be ISO 8601 dates: {exc}") from exc
        # Events in the range plus the window before it, so features see their history.
        events = events_frame(since=start - timedelta(milliseconds=HISTORY_WINDOW_MS), until=end)
        mask = (events["timestamp"] >= start).to_numpy() if len(events) else pd.Series(dtype=bool).to_numpy()
        return events, mask
