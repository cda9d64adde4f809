"""Cases made directly in the tables: a scored event at a chosen tier and loss, or a run of
live scores from one model version."""
from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from triage.models import Score, Transaction

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=dt_timezone.utc)


def make_case(client, event_id, *, tier="high", loss=100.0, account="acct-1", amount=100.0, when=T0,
              event_type="payment", device="dev-1", ip="203.0.113.9", merchant="m-1", status="success", **fields):
    txn = Transaction.objects.create(
        client=client, event_id=event_id, account_id=account, timestamp=when, event_type=event_type, amount=amount,
        currency="USD", payment_status=status, device_id=device, ip_address=ip, merchant_id=merchant, **fields,
    )
    Score.objects.create(
        transaction=txn, probability=min(loss / max(amount or 50, 1), 1.0), risk_score={"high": 90, "medium": 60, "low": 10}[tier],
        tier=tier, expected_loss=loss, model_version_name="v-test", features={},
    )
    return txn


def live_scores(client, version, probabilities, *, scored_at):
    """Store live events scored by `version` with these probabilities, tiered by its thresholds."""
    from ml import tiers
    rows = []
    for i, p in enumerate(probabilities):
        t = Transaction.objects.create(client=client, event_id=f"w-{scored_at:%H%M}-{i}", account_id=f"a-{i % 50}",
                                       timestamp=scored_at - timedelta(minutes=i % 50), event_type="payment")
        risk, tier = tiers.single(p, version.thresholds["medium"], version.thresholds["high"])
        rows.append(Score(transaction=t, probability=p, risk_score=risk, tier=tier, expected_loss=p * 50,
                          model_version=version, model_version_name=version.name))
    Score.objects.bulk_create(rows)
    Score.objects.filter(transaction__client=client, transaction__event_id__startswith=f"w-{scored_at:%H%M}-").update(
        scored_at=scored_at)
