from __future__ import annotations

from pathlib import Path

import pandas as pd
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ingest.files import ImportFileError, MappingError, events_read, mapping_load
from scoring.batch.run import BatchModel, score_frame, tier_summary, write_scores
from scoring.batch.store import stored_events_score
from scoring.models import ModelVersion
from scoring.rates import frame_in_reporting
from scoring.registry import ModelUnavailable, champion_model, load_version

GENERATOR_MAPPING = Path(settings.BASE_DIR) / "examples" / "mappings" / "generator.yaml"

# What a run does after each stage it reports (see `score_chunks` and `stored_events_score`).
_NEXT_STAGE = {
    "read": "computing features", "features": "scoring", "scoring": "scoring", "reasons": "scoring",
    "storing": "scoring", "commit": "committed", "rebuilding indexes": "rebuilding indexes",
    "indexes rebuilt": "done",
}


class Command(BaseCommand):
    help = (
        "Score a file of events (CSV or Parquet, read through a mapping as import_events reads it) and write probabilities, tiers and "
        "reasons to CSV or Parquet, or score the stored events of a date range with the champion model and store "
        "the scores (COPY) so they join the reviewers' queue; events that already have a score are skipped."
    )

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--file", type=Path, help="events to score (.csv or .parquet), read through --mapping")
        parser.add_argument(
            "--mapping", type=Path, default=GENERATOR_MAPPING,
            help="the file's column mapping, as for import_events (default: the generator's layout, "
                 "examples/mappings/generator.yaml); rows it rejects are counted and left out",
        )
        source.add_argument("--start", help="score stored events from this date/time (UTC, ISO 8601) …")
        parser.add_argument("--end", help="… up to this date/time, exclusive (default: now)")
        parser.add_argument(
            "--out", type=Path,
            help="where to write the scores (.csv or .parquet); required with --file, optional for stored events",
        )
        parser.add_argument("--high-out", type=Path, help="also write only the high tier here, riskiest first")
        parser.add_argument("--model", help="score with this model version (name) instead of the champion")
        parser.add_argument(
            "--ignore-labels", action="store_true",
            help="drop the file's labels; by default labels feed the entity fraud rates, each only from the time "
                 "it became known (without any labels every device, IP and merchant looks new to the model)",
        )
        parser.add_argument(
            "--reasons-for", choices=["high", "medium"], default="high",
            help="give reasons for the high tier only (default) or for high and medium; for stored events these "
                 "tiers are also explained by the workers (SHAP, as for live scores), the others stored unexplained",
        )

    def handle(self, *args, **opts):
        for key in ("file", "out", "high_out"):  # call_command passes strings as given
            opts[key] = Path(opts[key]) if opts.get(key) else None
        if opts["file"] and not opts["out"]:
            raise CommandError("--out is required with --file: file scores are written, not stored")
        model = self._model(opts["model"])
        explain_tiers = ("high",) if opts["reasons_for"] == "high" else ("high", "medium")
        with tqdm(unit=" events", desc="reading", disable=opts["verbosity"] == 0) as bar:
            def progress(stage: str, n: int) -> None:
                # The count is of events scored; the description says what runs now.
                bar.set_description_str(_NEXT_STAGE.get(stage, stage))
                if stage == "scoring":
                    bar.update(n)

            scored = self._score_file(opts, model, explain_tiers, progress) if opts["file"] else \
                self._score_stored(opts, model, explain_tiers, progress)
        if scored.empty:
            return
        if opts["out"]:
            self.stdout.write(f"wrote {len(scored):,} scores to {write_scores(scored, opts['out'])}")
        if opts["high_out"]:
            high = scored[scored["tier"] == "high"].sort_values("expected_loss", ascending=False)
            self.stdout.write(f"wrote {len(high):,} high-tier events to {write_scores(high, opts['high_out'])}")
        summary = tier_summary(scored)
        self.stdout.write("")
        self.stdout.write(f"{'tier':<8}{'events':>12}{'share':>9}{'mean p':>10}{'expected loss':>16}")
        for tier, row in summary.iterrows():
            self.stdout.write(
                f"{tier:<8}{int(row['events']):>12,}{row['share']:>9.2%}{row['mean_probability']:>10.4f}{row['expected_loss']:>16,.0f}"
            )

    def _score_file(self, opts, model: BatchModel, explain_tiers, progress) -> pd.DataFrame:
        events = self._file_events(opts)
        if events.empty:
            raise CommandError("no events to score in that file")
        self.stdout.write(f"scoring {len(events):,} events from {opts['file']} with {model.name}")
        return score_frame(events, model, default_event_value=settings.DEFAULT_EVENT_VALUE,
                           explain_tiers=explain_tiers, progress=progress, money=frame_in_reporting)

    def _score_stored(self, opts, model: BatchModel, explain_tiers, progress) -> pd.DataFrame:
        start, end = self._range(opts)
        result = stored_events_score(
            start=start, end=end, model=model, explain_tiers=explain_tiers,
            default_event_value=settings.DEFAULT_EVENT_VALUE,
            reasons_in_output=bool(opts["out"] or opts["high_out"]), progress=progress,
        )
        if result.stored == 0 and result.already_scored == 0:
            raise CommandError("no events to score in that range")
        self.stdout.write(
            f"stored {result.stored:,} scores by {model.name}; skipped {result.already_scored:,} events "
            f"of the range that already had a score; {result.explanations_queued:,} "
            f"{' and '.join(explain_tiers)}-tier scores queued for SHAP explanations"
        )
        if result.indexes_rebuilt_in is not None:
            self.stdout.write(f"bulk run: the score table's indexes and keys were set aside while storing and "
                              f"rebuilt in {result.indexes_rebuilt_in:.1f} s")
        return result.scored

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
            thresholds=loaded.thresholds, calibration=loaded.manifest["calibration"], design=loaded.design,
        )

    def _file_events(self, opts) -> pd.DataFrame:
        if not opts["file"].exists():
            raise CommandError(f"no file at {opts['file']}")
        try:
            events, rejected = events_read(opts["file"], mapping_load(opts["mapping"]))
        except (MappingError, ImportFileError) as exc:
            raise CommandError(f"{opts['file']}: {exc}") from None
        if rejected:
            self.stderr.write(self.style.WARNING(
                f"{rejected:,} rows of {opts['file']} fail the data contract and are not scored "
                f"(import_events writes them to a reject file with the reasons)"))
        # An empty label is unknown (NaN), never fraud: it must not feed the entity fraud rates.
        if opts["ignore_labels"] or "is_fraud" not in events:
            events["is_fraud"] = float("nan")
        return events

    def _range(self, opts) -> tuple[pd.Timestamp, pd.Timestamp]:
        try:
            start = pd.Timestamp(opts["start"])
            end = pd.Timestamp(opts["end"] or pd.Timestamp.now(tz="UTC"))
        except ValueError as exc:
            raise CommandError(f"--start/--end must be ISO 8601 dates: {exc}") from exc
        start = start.tz_localize("UTC") if start.tzinfo is None else start
        end = end.tz_localize("UTC") if end.tzinfo is None else end
        return start, end
