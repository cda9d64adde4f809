"""A small, hand-countable dataset for the dashboard tests."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from triage.models import Score, Transaction

UTC = timezone.utc


def add_event(client, event_id, when, *, account="acct-a", event_type="payment", amount=None, is_fraud=None,
              score=None, tier=None, expected_loss=0.0, review_status="open", device="", ip=None, payment_status=""):
    txn = Transaction.objects.create(
        client=client, event_id=event_id, account_id=account, timestamp=when, event_type=event_type,
        amount=None if amount is None else Decimal(str(amount)), is_fraud=is_fraud,
        label_source="import" if is_fraud is not None else "", device_id=device, ip_address=ip,
        payment_status=payment_status,
    )
    if score is not None:
        Score.objects.create(
            transaction=txn, probability=score / 100, risk_score=score, tier=tier, expected_loss=expected_loss,
            model_version_name="test", review_status=review_status,
        )
        if review_status != "open":
            _decided_when_it_happened(txn, review_status)
    return txn


def _decided_when_it_happened(txn, review_status):
    """A reviewer's decision as the product records it (a Decision row, the case's decided_at),
    made ten minutes after the event, which is when it was scored: the dashboards count
    reviewers' work by decision time."""
    from datetime import timedelta

    from django.contrib.auth.models import User

    from triage.models import Decision

    reviewer, _ = User.objects.get_or_create(username="hank-reviewer")
    decided = txn.timestamp + timedelta(minutes=10)
    verdict = {"flagged": "flag", "cleared": "clear", "escalated": "escalate"}[review_status]
    decision = Decision.objects.create(transaction=txn, reviewer=reviewer, verdict=verdict)
    Decision.objects.filter(pk=decision.pk).update(created_at=decided)
    Score.objects.filter(transaction=txn).update(scored_at=txn.timestamp, decided_at=decided)


def hand_counted_world(client):
    """Five events; the expected numbers are worked out by hand in the tests.

    Mon 2026-11-16 10:15 UTC payment 100, fraud, score 90 high, flagged        (caught, priced)
    Mon 2026-11-16 10:40 UTC payment 50, legit, score 60 medium, cleared        (false positive)
    Mon 2026-11-16 10:50 UTC login, unlabeled, score 10 low, open
    Tue 2026-11-17 23:30 UTC payment 200, fraud (imported), not scored
    Tue 2026-11-17 23:45 UTC purchase without amount, fraud, score 85 high, flagged (caught, unpriced)
    """
    return [
        add_event(client, "e1", datetime(2026, 11, 16, 10, 15, tzinfo=UTC), amount=100, is_fraud=True, score=90,
                  tier="high", expected_loss=90.0, review_status="flagged"),
        add_event(client, "e2", datetime(2026, 11, 16, 10, 40, tzinfo=UTC), amount=50, is_fraud=False, score=60,
                  tier="medium", expected_loss=6.0, review_status="cleared"),
        add_event(client, "e3", datetime(2026, 11, 16, 10, 50, tzinfo=UTC), event_type="login", score=10, tier="low",
                  expected_loss=0.5),
        add_event(client, "e4", datetime(2026, 11, 17, 23, 30, tzinfo=UTC), amount=200, is_fraud=True),
        add_event(client, "e5", datetime(2026, 11, 17, 23, 45, tzinfo=UTC), event_type="purchase", is_fraud=True,
                  score=85, tier="high", expected_loss=40.0, review_status="flagged"),
    ]


def lively_world(client, reviewers, *, days: int = 35, end=datetime(2026, 11, 17, tzinfo=UTC), seed: int = 4):
    """A month of events with night-time fraud, decisions by several reviewers and two model
    versions: enough for every dashboard panel to draw something worth looking at."""
    import random
    from datetime import timedelta

    from django.utils import timezone as dj_timezone

    from scoring.models import ModelVersion
    from triage.models import Decision

    rng = random.Random(seed)
    start = end - timedelta(days=days)
    txns, scores, decided = [], [], []
    for i in range(days * 45):
        when = start + timedelta(seconds=rng.randrange(days * 86400))
        night = when.hour < 6
        fraud = rng.random() < (0.12 if night else 0.025)
        score = min(100, max(0, int(rng.gauss(88 if fraud else 30, 12))))
        tier = "high" if score >= 80 else "medium" if score >= 50 else "low"
        amount = round(rng.uniform(5, 400), 2) if rng.random() < 0.8 else None
        labeled = rng.random() < 0.7
        account = rng.randrange(120)
        # Mostly the account's own devices; a few shared ones make small rings.
        device = f"dev-{account}-{rng.randrange(2)}" if rng.random() < 0.98 else f"shared-{rng.randrange(20)}"
        txns.append(Transaction(
            client=client, event_id=f"l{i}", account_id=f"acct-{account:03d}", timestamp=when,
            event_type=rng.choice(["payment", "payment", "purchase", "login"]),
            amount=None if amount is None else Decimal(str(amount)), is_fraud=fraud if labeled else None,
            device_id=device, payment_status=rng.choice(["success"] * 8 + ["failed"]),
        ))
        status = "open"
        if tier != "low" and rng.random() < 0.6:
            status = "flagged" if fraud else "cleared"
        scores.append((score, tier, (amount or 50) * score / 100, status))
    txns = Transaction.objects.bulk_create(txns)
    now = dj_timezone.now()  # replaced below by times relative to each event
    objects = []
    for txn, (score, tier, loss, status) in zip(txns, scores):
        objects.append(Score(transaction=txn, probability=score / 100, risk_score=score, tier=tier, expected_loss=round(loss, 2),
                             model_version_name="lgbm-b", review_status=status, decided_at=None if status == "open" else now))
        if status != "open":
            if status == "flagged" and not txn.is_fraud:
                Transaction.objects.filter(pk=txn.pk).update(is_fraud=True)
            decided.append(Decision(transaction=txn, reviewer=rng.choice(reviewers),
                                    verdict="flag" if status == "flagged" else "clear"))
    Score.objects.bulk_create(objects)
    Decision.objects.bulk_create(decided)
    # Scored when the event happened, decided minutes to hours later (auto_now_add set "now").
    for score in objects:
        score.scored_at = score.transaction.timestamp
        if score.decided_at:
            score.decided_at = score.scored_at + timedelta(minutes=rng.randrange(5, 600))
    Score.objects.bulk_update(objects, ["scored_at", "decided_at"])
    decided_at = {s.transaction_id: s.decided_at for s in objects}
    for decision in decided:
        decision.created_at = decided_at[decision.transaction_id]
    Decision.objects.bulk_update(decided, ["created_at"])
    for name, status, auc, ap in (("lgbm-a", "retired", 0.91, 0.52), ("lgbm-b", "champion", 0.94, 0.61)):
        ModelVersion.objects.create(name=name, bundle_path="/nonexistent", status=status, metrics={
            "test": {"rows": 5000, "roc_auc": auc, "average_precision": ap, "high_tier": {"precision": ap + 0.1, "recall": 0.4}}})
    return txns
