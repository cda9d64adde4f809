"""Import runs for the tests: a small generated world as a generator-format CSV, the command
run on it, what it stored, and a crash half-way through a load."""
from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import pandas as pd
from django.core.management import call_command

from scoring.store import events as loaders
from synthetic.generator import WorldConfig, generate_world, write_world
from triage.models import Transaction

ROOT = Path(__file__).resolve().parents[2]
GENERATOR_MAPPING = ROOT / "examples" / "mappings" / "generator.yaml"


@lru_cache(maxsize=1)
def world() -> pd.DataFrame:
    return generate_world(WorldConfig(accounts=40, days=20, unlabeled_days=3, drift_days=10, seed=5))


def run_import(path, mapping=GENERATOR_MAPPING, **options) -> str:
    out = io.StringIO()
    call_command("import_events", str(path), mapping=str(mapping), stdout=out, verbosity=0, **options)
    return out.getvalue()


def stored(source: str) -> pd.DataFrame:
    rows = Transaction.objects.filter(client__name=source).order_by("event_id").values()
    return pd.DataFrame.from_records(list(rows))


def generator_csv(tmp_path, frame=None) -> Path:
    return write_world(world() if frame is None else frame, tmp_path / "world.csv")


def crash_on_second_chunk(monkeypatch) -> None:
    """Make the process die right after the second chunk's rows are written, before its commit.

    Any later chunk dies the same way: stored side by side, it may get there first."""
    first_event = world()["event_id"].iloc[0]
    for name in ("_store_staged", "_store_direct"):  # staging path, or straight COPY
        real_load = getattr(loaders, name)

        def load_then_crash(batch, real_load=real_load):
            added = real_load(batch)
            if batch.rows["event_id"].iloc[0] != first_event:
                raise RuntimeError("worker killed")
            return added

        monkeypatch.setattr(loaders, name, load_then_crash)
