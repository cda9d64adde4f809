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
    return txn


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
