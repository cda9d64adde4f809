"""score_batch applies the champion to a file or a stored date range and writes every score."""
from __future__ import annotations

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from scoring.generator import write_world
from tests.conftest import small_world


def test_scores_a_file_with_tiers_reasons_and_a_high_tier_export(champion, tmp_path, capsys):
    world = small_world()
    source = write_world(world, tmp_path / "new.csv")
    call_command("score_batch", file=str(source), out=str(tmp_path / "scores.parquet"),
                 high_out=str(tmp_path / "high.csv"), verbosity=0)
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    assert len(scores) == len(world) and scores["event_id"].tolist() == world["event_id"].tolist()
    assert set(scores["tier"]) <= {"low", "medium", "high"} and scores["probability"].between(0, 1).all()
    assert (scores["tier"] == "high").any()
    high_tier = scores["tier"] == "high"
    assert (scores.loc[high_tier, "reasons"] != "").all() and (scores.loc[~high_tier, "reasons"].fillna("") == "").all()
    # Labels known before each event feed the entity rates: once accounts have history,
    # most events stay in the low tier.
    assert (scores["tier"].iloc[len(scores) // 2 :] == "low").mean() > 0.5
    high = pd.read_csv(tmp_path / "high.csv")
    assert len(high) == (scores["tier"] == "high").sum()
    assert high["expected_loss"].is_monotonic_decreasing
    summary = capsys.readouterr().out
    assert "high" in summary and "expected loss" in summary


def test_scores_a_stored_date_range_with_history_before_it(champion, tmp_path):
    from accounts.services import import_source_get_or_create
    from scoring.loaders import events_load

    world = small_world().head(3000)
    events_load(frame=world, client=import_source_get_or_create(name="history"))
    start = world["timestamp"].iloc[2500]
    call_command("score_batch", start=start.isoformat(), out=str(tmp_path / "range.csv"), verbosity=0)
    scores = pd.read_csv(tmp_path / "range.csv")
    assert len(scores) == int((world["timestamp"] >= start).sum())


def test_refuses_a_missing_file_and_an_empty_range(champion, tmp_path):
    with pytest.raises(CommandError, match="no file"):
        call_command("score_batch", file=str(tmp_path / "nope.csv"), out=str(tmp_path / "o.csv"), verbosity=0)
    with pytest.raises(CommandError, match="no events"):
        call_command("score_batch", start="2001-01-01", end="2001-01-02", out=str(tmp_path / "o.csv"), verbosity=0)
