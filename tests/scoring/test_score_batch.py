"""score_batch applies the champion to a file or a stored date range and writes every score."""
from __future__ import annotations

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from synthetic.generator import write_world
from tests.support.factories import small_world
from tests.support.worlds import stored_small_world


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


def test_scores_a_stored_date_range_into_the_database_with_history_before_it(
    champion, tmp_path, capsys, django_capture_on_commit_callbacks
):
    from triage.models import Score

    world, start = stored_small_world()
    with django_capture_on_commit_callbacks(execute=True):  # the explanation tasks run eagerly after the commit
        call_command("score_batch", start=start.isoformat(), out=str(tmp_path / "range.csv"),
                     high_out=str(tmp_path / "high.csv"), verbosity=0)
    in_range = world[world["timestamp"] >= start]
    scores = pd.read_csv(tmp_path / "range.csv")
    assert sorted(scores["event_id"]) == sorted(in_range["event_id"])
    stored = pd.DataFrame.from_records(Score.objects.values(
        "transaction__event_id", "probability", "risk_score", "tier", "expected_loss", "model_version_id",
        "model_version_name", "explanation_status", "explanation", "features", "review_status",
    ))
    assert len(stored) == len(in_range)  # once each, nothing before the range
    assert set(stored["model_version_name"]) == {champion.name} and set(stored["model_version_id"]) == {champion.pk}
    assert set(stored["review_status"]) == {"open"}
    merged = stored.merge(scores, left_on="transaction__event_id", right_on="event_id", suffixes=("", "_file"))
    assert (merged["tier"] == merged["tier_file"]).all() and (merged["risk_score"] == merged["risk_score_file"]).all()
    assert (merged["probability"] - merged["probability_file"]).abs().max() < 1e-12
    # The high tier is explained by the workers like live scores (SHAP from the stored feature
    # vector); the rest are stored without an explanation.
    high = stored[stored["tier"] == "high"]
    assert len(high) > 0 and set(high["explanation_status"]) == {"ready"}
    first = high.iloc[0]
    assert first["explanation"]["method"] == "shap" and first["explanation"]["reasons"]
    assert set(first["features"]) == {f["name"] for f in champion.manifest["features"]}
    others = stored[stored["tier"] != "high"]
    assert set(others["explanation_status"]) == {"skipped"} and others["explanation"].isna().all()
    assert (others["features"] == {}).all()

    out = capsys.readouterr().out
    assert f"stored {len(in_range):,} scores" in out and "skipped 0 events" in out
    assert f"{len(high):,} high-tier scores queued for SHAP explanations" in out
    # The summary counts what was stored; the export holds exactly the stored high tier, riskiest first.
    for tier in ("high", "medium", "low"):
        count = int((stored["tier"] == tier).sum())
        assert any(line.split()[:2] == [tier, f"{count:,}"] for line in out.splitlines()), (tier, count, out)
    exported = pd.read_csv(tmp_path / "high.csv")
    assert sorted(exported["event_id"]) == sorted(high["transaction__event_id"])
    assert exported["expected_loss"].is_monotonic_decreasing


def test_batch_scores_join_the_reviewers_queue(champion, client, reviewer, django_capture_on_commit_callbacks):
    world, start = stored_small_world()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("score_batch", start=start.isoformat(), verbosity=0)
    client.force_login(reviewer)
    body = client.get("/api/queue", {"tier": "high"}).json()
    assert body["counts"]["high"] > 0 and body["items"]
    top = body["items"][0]
    assert top["model_version"] == champion.name and top["explanation_status"] == "ready"
    case = client.get(f"/api/cases/{top['transaction_id']}").json()
    assert case["explanation"]["reasons"]


def test_a_rerun_stores_nothing_twice_and_says_what_it_skipped(champion, capsys):
    from triage.models import Score

    world, start = stored_small_world()
    call_command("score_batch", start=start.isoformat(), verbosity=0)
    first = dict(Score.objects.values_list("transaction_id", "probability"))
    capsys.readouterr()
    call_command("score_batch", start=start.isoformat(), verbosity=0)
    out = capsys.readouterr().out
    assert Score.objects.count() == len(first) and dict(Score.objects.values_list("transaction_id", "probability")) == first
    assert f"stored 0 scores by {champion.name}; skipped {len(first):,} events" in out


def test_events_scored_live_keep_their_score_and_the_rest_are_added(champion):
    from triage.models import Score, Transaction

    world, start = stored_small_world()
    live = Transaction.objects.filter(timestamp__gte=start).order_by("id")[:5]
    for txn in live:
        Score.objects.create(transaction=txn, probability=0.5, risk_score=55, tier="medium", expected_loss=1.0,
                             model_version_name="live-model", explanation_status="pending")
    call_command("score_batch", start=start.isoformat(), verbosity=0)
    assert Score.objects.count() == int((world["timestamp"] >= start).sum())
    assert Score.objects.filter(model_version_name="live-model").count() == 5


def test_refuses_a_missing_file_and_an_empty_range(champion, tmp_path):
    with pytest.raises(CommandError, match="no file"):
        call_command("score_batch", file=str(tmp_path / "nope.csv"), out=str(tmp_path / "o.csv"), verbosity=0)
    with pytest.raises(CommandError, match="no events"):
        call_command("score_batch", start="2001-01-01", end="2001-01-02", out=str(tmp_path / "o.csv"), verbosity=0)


def test_a_file_without_labels_scores_as_unlabeled_never_as_fraud(champion, tmp_path):
    world = small_world().head(2500).copy()
    world["is_fraud"] = pd.array([pd.NA] * len(world), dtype="boolean")
    world["label_known_at"] = pd.NaT
    source = tmp_path / "unlabeled.parquet"
    world.to_parquet(source)
    call_command("score_batch", file=str(source), out=str(tmp_path / "blank.parquet"), verbosity=0)
    call_command("score_batch", file=str(source), out=str(tmp_path / "ignored.parquet"), ignore_labels=True,
                 verbosity=0)
    blank, ignored = pd.read_parquet(tmp_path / "blank.parquet"), pd.read_parquet(tmp_path / "ignored.parquet")
    assert len(blank) == len(world)
    pd.testing.assert_series_equal(blank["probability"], ignored["probability"])


def test_a_file_is_read_through_its_mapping(champion, tmp_path):
    world = small_world().head(500).rename(columns={"event_id": "txn", "account_id": "customer"})
    source = write_world(world.rename(columns={"txn": "event_id", "customer": "account_id"}), tmp_path / "w.csv")
    renamed = pd.read_csv(source, dtype=str, keep_default_na=False).rename(
        columns={"event_id": "txn", "account_id": "customer"})
    renamed.to_csv(tmp_path / "renamed.csv", index=False)
    mapping = (tmp_path / "m.yaml")
    from pathlib import Path

    import yaml

    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "examples/mappings/generator.yaml").read_text())
    raw["columns"].update(event_id="txn", account_id="customer")
    mapping.write_text(yaml.safe_dump(raw))
    call_command("score_batch", file=str(tmp_path / "renamed.csv"), mapping=str(mapping),
                 out=str(tmp_path / "s.csv"), verbosity=0)
    scores = pd.read_csv(tmp_path / "s.csv")
    assert scores["event_id"].tolist() == renamed["txn"].tolist()
    with pytest.raises(CommandError, match="column 'event_id' is not in the file"):
        call_command("score_batch", file=str(tmp_path / "renamed.csv"), out=str(tmp_path / "t.csv"), verbosity=0)
