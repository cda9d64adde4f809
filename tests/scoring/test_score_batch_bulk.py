"""Batch scoring of many stored events: read by ADBC outside any transaction, scores COPYed with
the score table's indexes and keys set aside, then rebuilt.

These tests commit for real (the read runs in a session of its own and the indexes are
rebuilt outside any transaction), so they use transactional database tests.
"""
from __future__ import annotations

import pandas as pd
import pytest
from django.core.management import call_command
from django.db import connection, transaction

from core.db import bulk as core_bulk
from insights.models import DirtyHour
from scoring.batch import read as batch_read
from scoring.batch import store as batch_store
from scoring.store.bulk import SCORES
from tests.support.worlds import stored_small_world
from triage.models import Score, Transaction

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bulk_from_500(monkeypatch):
    monkeypatch.setattr(core_bulk, "BULK_MIN_ROWS", 500)


def _missing_while_storing(monkeypatch) -> list[list[str]]:
    """What the score table lacks each time scores are stored."""
    seen: list[list[str]] = []
    store = batch_store.scores_store

    def watched(**kwargs):
        seen.append(SCORES.indexes_missing())
        return store(**kwargs)

    monkeypatch.setattr(batch_store, "scores_store", watched)
    return seen


def test_what_is_set_aside_is_what_the_score_model_declares():
    declared = {index.name for index in Score._meta.indexes}
    assert {index.name for index in SCORES.secondary_indexes()} == declared >= {"score_open_queue", "score_time"}
    assert {field.name for field in SCORES.foreign_keys()} == {"transaction", "model_version", "claimed_by", "assigned_to"}
    assert SCORES.indexes_missing() == []


def test_a_big_first_run_stores_every_score_with_the_indexes_set_aside_then_rebuilt(
    champion, bulk_from_500, monkeypatch, tmp_path, capsys
):
    world, start = stored_small_world()
    DirtyHour.objects.all().delete()  # the marks of the events' import
    seen = _missing_while_storing(monkeypatch)
    call_command("score_batch", start=start.isoformat(), out=str(tmp_path / "range.csv"), verbosity=1)
    captured = capsys.readouterr()
    out = captured.out
    in_range = world[world["timestamp"] >= start]
    # The progress bar counts the events scored, and says what runs after scoring.
    bar = captured.err.replace("\r", "\n")
    assert f"rebuilding indexes: {len(in_range)} events" in bar and f"done: {len(in_range)} events" in bar

    # Set aside while storing, back after it.
    assert len(seen) == 1
    assert set(seen[0]) == {i.name for i in SCORES.secondary_indexes()} | {f.column for f in SCORES.foreign_keys()}
    assert SCORES.indexes_missing() == []
    assert "indexes and keys were set aside while storing and rebuilt in" in out

    stored = pd.DataFrame.from_records(Score.objects.values("transaction__event_id", "probability", "tier", "model_version_id"))
    assert len(stored) == len(in_range) and set(stored["model_version_id"]) == {champion.pk}
    written = pd.read_csv(tmp_path / "range.csv")
    merged = stored.merge(written, left_on="transaction__event_id", right_on="event_id", suffixes=("", "_file"))
    assert len(merged) == len(in_range) and (merged["tier"] == merged["tier_file"]).all()
    assert (merged["probability"] - merged["probability_file"]).abs().max() < 1e-12
    # The dashboards learn of every hour that got scores, though the trigger left it to the run.
    hours = set(pd.DatetimeIndex(in_range["timestamp"]).floor("h"))
    marked = {pd.Timestamp(hour) for hour in DirtyHour.objects.values_list("hour", flat=True)}
    assert hours == marked

    # Live scores, in transactions of their own, are still marked by the trigger.
    DirtyHour.objects.all().delete()
    earlier = Transaction.objects.filter(timestamp__lt=start).order_by("-timestamp").first()
    Score.objects.create(transaction=earlier, probability=0.5, risk_score=50, tier="medium", expected_loss=1.0,
                         model_version_name="live-model")
    assert list(DirtyHour.objects.values_list("hour", flat=True)) == [earlier.timestamp.replace(minute=0, second=0, microsecond=0)]


def test_a_run_that_fails_while_storing_stores_nothing_and_rebuilds_the_indexes(champion, bulk_from_500, monkeypatch):
    stored_small_world()
    encode = batch_store._score_fields
    calls = []

    def fail_on_second_part(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("lost the database half-way")
        return encode(*args)

    monkeypatch.setattr("scoring.batch.run.CHUNK", 200)
    monkeypatch.setattr(batch_store, "_score_fields", fail_on_second_part)
    seen = _missing_while_storing(monkeypatch)
    with pytest.raises(RuntimeError, match="half-way"):
        call_command("score_batch", start="2000-01-01", verbosity=0)
    assert seen and seen[0]  # it was a bulk run
    assert Score.objects.count() == 0
    assert SCORES.indexes_missing() == []


def test_a_small_run_keeps_the_indexes(champion, monkeypatch):
    world, start = stored_small_world()
    seen = _missing_while_storing(monkeypatch)
    call_command("score_batch", start=start.isoformat(), verbosity=0)
    assert seen == [[]]
    assert Score.objects.count() == int((world["timestamp"] >= start).sum())


def test_indexes_left_out_by_a_killed_run_are_rebuilt_by_the_next(champion, monkeypatch):
    world, start = stored_small_world()
    SCORES._drop_all()  # what a run killed before its rebuild leaves behind
    assert SCORES.indexes_missing()
    call_command("score_batch", start=start.isoformat(), verbosity=0)
    assert SCORES.indexes_missing() == []


def test_the_read_outside_a_transaction_equals_the_read_inside_one(champion):
    world, start = stored_small_world()
    since = start - pd.Timedelta(days=30)
    apart = batch_read.stored_batch_read(since=since, start=start, until=pd.Timestamp.now(tz="UTC"))
    with transaction.atomic():
        inside = batch_read.stored_batch_read(since=since, start=start, until=pd.Timestamp.now(tz="UTC"))
    assert connection.vendor == "postgresql" and len(apart.events) == len(world[world["timestamp"] >= since])
    pd.testing.assert_frame_equal(apart.events, inside.events)
    assert (apart.to_score == inside.to_score).all() and apart.to_score.sum() == (world["timestamp"] >= start).sum()


def test_the_periodic_task_rebuilds_what_a_killed_bulk_run_left_out(db):
    from scoring.tasks import restore_bulk_indexes

    SCORES._drop_all()
    assert restore_bulk_indexes().startswith("rebuilt ") and SCORES.indexes_missing() == []
    assert restore_bulk_indexes() == "none missing"
