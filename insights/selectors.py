"""Reads for the managers' dashboards. Trends come from hourly rollups, never raw events."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db.models import Avg, Case, Count, FloatField, IntegerField, Q, Sum, Value, When
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, TruncDate
from django.utils import timezone

from insights import stats
from insights.models import AccountRisk, HourlyRollup, RoiAssumptions, SegmentSummary
from insights.periods import Period
from ml.psi import psi
from scoring.models import ExchangeRate, ModelVersion
from triage.models import Decision, Score, Transaction
from triage.selectors import oldest_open_high_case, sla_breaches

TIER_ORDER = ("high", "medium", "low", "unscored")
SCORE_BANDS = list(range(11))  # risk score // 10; 100 is band 10


def newest_event_time() -> datetime | None:
    """When the newest stored event happened (event time; walks the timestamp index)."""
    return Transaction.objects.order_by("-timestamp").values_list("timestamp", flat=True).first()


def period_coverage(*, period: Period) -> dict[str, Any]:
    """Where the stored data lies against the period, so an empty or nearly empty period is
    explained rather than shown as quiet: imported or generated history often ends weeks
    ago, and one live event posted since then is all a period up to today would show."""
    newest = newest_event_time()
    newest_day = newest.astimezone(period.tz).date() if newest else None
    older = newest is not None and newest < period.utc_start
    in_period = _num(_rollups(period).aggregate(n=Sum("events"))["n"])
    before = _num(HourlyRollup.objects.filter(hour__lt=period.utc_start).aggregate(n=Sum("events"))["n"])
    last_before = (
        Transaction.objects.filter(timestamp__lt=period.utc_start).order_by("-timestamp")
        .values_list("timestamp", flat=True).first()
    ) if before else None
    last_before_day = last_before.astimezone(period.tz).date().isoformat() if last_before else None
    message = None
    if newest is None:
        message = "no events stored yet"
    elif older:
        message = f"newest event: {newest_day.isoformat()}, older than this period"
    elif before > 10 * max(in_period, 1) and last_before_day:
        # Most of the data is older than the period: say what the period holds and where the rest is.
        message = (f"only {int(in_period):,} event{'' if in_period == 1 else 's'} in this period; "
                   f"{int(before):,} older ones end on {last_before_day}")
    unrated = int(_num(_rollups(period).aggregate(n=Sum("unrated"))["n"]))
    return {
        "unrated_events": unrated,
        # Named only when some are: finding them reads the period's events.
        "unrated_currencies": unrated_currencies(period=period) if unrated else [],
        "reporting_currency": settings.REPORTING_CURRENCY,
        "newest_event": newest,
        "newest_event_day": newest_day.isoformat() if newest_day else None,
        "older_than_period": older,
        "events_in_period": int(in_period),
        "events_before_period": int(before),
        "older_data_ends": last_before_day,
        "message": message,
    }


def unrated_currencies(*, period: Period) -> list[str]:
    """Currencies of the period's events with an amount that no exchange rate was loaded for."""
    rated = set(ExchangeRate.objects.values_list("currency", flat=True).distinct())
    return sorted(
        set(
            Transaction.objects.filter(timestamp__gte=period.utc_start, timestamp__lt=period.utc_end, amount__isnull=False)
            .exclude(currency__in=[*rated, "", settings.REPORTING_CURRENCY])
            .values_list("currency", flat=True).distinct()[:20]
        )
    )


def _decided_cases(period: Period):
    """Cases whose standing decision was made in the period: the one time base every panel
    counts reviewers' work by (decision time), whatever the event's own date. Found through
    the decisions made in the period (a small table) rather than by scanning every score."""
    decided_in_period = Decision.objects.filter(
        created_at__gte=period.utc_start, created_at__lt=period.utc_end, undone_at__isnull=True,
    ).values("transaction_id")
    return Score.objects.filter(
        transaction_id__in=decided_in_period, decided_at__gte=period.utc_start, decided_at__lt=period.utc_end,
    ).exclude(review_status=Score.ReviewStatus.OPEN)


_D_FLAGGED = Q(review_status=Score.ReviewStatus.FLAGGED)
_D_CLEARED = Q(review_status=Score.ReviewStatus.CLEARED)
_D_CAUGHT = _D_FLAGGED & Q(transaction__is_fraud=True)


def _rollups(period: Period):
    return HourlyRollup.objects.filter(hour__gte=period.utc_start, hour__lt=period.utc_end)


def _num(value: Any) -> float:
    return float(value or 0)


def trends_daily(*, period: Period) -> dict[str, Any]:
    """Per local day and tier: events, flagged, confirmed fraud, money at risk."""
    rows = (
        _rollups(period)
        .annotate(day=TruncDate("hour", tzinfo=period.tz))
        .values("day", "tier")
        .annotate(
            events=Sum("events"), scored=Sum("scored"), flagged=Sum("flagged"), cleared=Sum("cleared"),
            confirmed_fraud=Sum("confirmed_fraud"), money_at_risk=Sum("money_at_risk"), amount=Sum("amount_sum"),
        )
        .order_by("day", "tier")
    )
    series = [
        {
            "day": row["day"].isoformat(),
            "tier": row["tier"] or "unscored",
            "events": row["events"],
            "scored": row["scored"],
            "flagged": row["flagged"],
            "cleared": row["cleared"],
            "confirmed_fraud": row["confirmed_fraud"],
            "money_at_risk": round(_num(row["money_at_risk"]), 2),
            "amount": round(_num(row["amount"]), 2),
        }
        for row in rows
        if period.start <= row["day"] <= period.end
    ]
    # Reviewers' flags and clears count on the day they were decided, as on every panel.
    by_key = {(item["day"], item["tier"]): item for item in series}
    decided = (
        _decided_cases(period).annotate(day=TruncDate("decided_at", tzinfo=period.tz)).values("day", "tier")
        .annotate(flagged=Count("transaction_id", filter=_D_FLAGGED), cleared=Count("transaction_id", filter=_D_CLEARED))
        .order_by()
    )
    for item in by_key.values():
        item["flagged"] = item["cleared"] = 0
    for row in decided:
        if not period.start <= row["day"] <= period.end:
            continue
        key = (row["day"].isoformat(), row["tier"] or "unscored")
        item = by_key.get(key)
        if item is None:
            item = by_key[key] = {"day": key[0], "tier": key[1], "events": 0, "scored": 0, "flagged": 0, "cleared": 0,
                                  "confirmed_fraud": 0, "money_at_risk": 0.0, "amount": 0.0}
        item["flagged"], item["cleared"] = row["flagged"], row["cleared"]
    series = sorted(by_key.values(), key=lambda item: (item["day"], TIER_ORDER.index(item["tier"])))
    totals: dict[str, float] = {"events": 0, "flagged": 0, "confirmed_fraud": 0, "money_at_risk": 0}
    for item in series:
        for key in totals:
            totals[key] = round(totals[key] + item[key], 2)
    return {"period": period.as_dict(), "days": [d.isoformat() for d in period.days], "tiers": list(TIER_ORDER),
            "series": series, "totals": totals,
            "time_base": {"events": "event time", "confirmed_fraud": "event time", "money_at_risk": "event time",
                          "flagged": "decision time"}}


def heatmap(*, period: Period) -> dict[str, Any]:
    """Fraud rate and volume by local day of week (1 = Monday) × hour of day, with 95 % Wilson
    intervals. The rate is confirmed fraud among events whose label is known."""
    rows = (
        _rollups(period)
        .annotate(dow=ExtractIsoWeekDay("hour", tzinfo=period.tz), hod=ExtractHour("hour", tzinfo=period.tz))
        .values("dow", "hod")
        .annotate(events=Sum("events"), labeled=Sum("labeled"), fraud=Sum("confirmed_fraud"))
    )
    found = {(r["dow"], r["hod"]): r for r in rows}
    cells = []
    for dow in range(1, 8):
        for hod in range(24):
            row = found.get((dow, hod), {"events": 0, "labeled": 0, "fraud": 0})
            labeled, fraud = int(row["labeled"] or 0), int(row["fraud"] or 0)
            low, high = stats.wilson_interval(fraud, labeled)
            cells.append({
                "day_of_week": dow, "hour": hod, "events": int(row["events"] or 0), "labeled": labeled, "fraud": fraud,
                "fraud_rate": fraud / labeled if labeled else None, "ci_low": low, "ci_high": high,
            })
    return {"period": period.as_dict(), "cells": cells}


def roi_assumptions() -> RoiAssumptions:
    """The stored assumptions, or the configured defaults when nobody has edited them."""
    stored = RoiAssumptions.objects.order_by("-pk").first()
    return stored or RoiAssumptions(
        cost_per_review=settings.REVIEW_COST,
        friction_cost_per_false_positive=settings.INSIGHTS_FRICTION_COST,
        value_of_unpriced_event=settings.DEFAULT_EVENT_VALUE,
    )


def roi(*, period: Period) -> dict[str, Any]:
    # Reviews in the period by decision time, the same cases Team and precision count.
    sums = _decided_cases(period).aggregate(
        caught=Count("transaction_id", filter=_D_CAUGHT),
        caught_amount=Sum("transaction__amount", filter=_D_CAUGHT),
        caught_unpriced=Count("transaction_id", filter=_D_CAUGHT & Q(transaction__amount__isnull=True)),
        reviewed=Count("transaction_id"), cleared=Count("transaction_id", filter=_D_CLEARED),
        flagged=Count("transaction_id", filter=_D_FLAGGED),
    )
    assumptions = roi_assumptions()
    figures = stats.roi_figures(
        caught_amount=_num(sums["caught_amount"]),
        caught_unpriced=int(sums["caught_unpriced"] or 0),
        reviews=int(sums["reviewed"] or 0),
        false_positives=int(sums["cleared"] or 0),
        cost_per_review=assumptions.cost_per_review,
        friction_cost_per_false_positive=assumptions.friction_cost_per_false_positive,
        value_of_unpriced_event=assumptions.value_of_unpriced_event,
    )
    return {
        "period": period.as_dict(),
        "time_base": "decision time",
        "counts": {
            "caught": int(sums["caught"] or 0), "reviews": int(sums["reviewed"] or 0),
            "false_positives": int(sums["cleared"] or 0), "flagged": int(sums["flagged"] or 0),
            "caught_amount": round(_num(sums["caught_amount"]), 2), "caught_unpriced": int(sums["caught_unpriced"] or 0),
        },
        "assumptions": {
            "cost_per_review": assumptions.cost_per_review,
            "friction_cost_per_false_positive": assumptions.friction_cost_per_false_positive,
            "value_of_unpriced_event": assumptions.value_of_unpriced_event,
            "updated_by": assumptions.updated_by.get_username() if assumptions.updated_by_id else None,
            "updated_at": assumptions.updated_at,
        },
        **figures,
    }


def _score_drift(period: Period, bands_by_day: dict[str, list[int]]) -> dict[str, Any]:
    """PSI of the period's score distribution against the champion's training reference:
    the learning loop's latest hourly check when there is one, else this period's champion
    scores against the reference stored when it was trained or promoted."""
    if apps.is_installed("learning"):
        try:
            from learning.selectors import champion_score_reference, drift_latest  # written by the learning app

            latest = drift_latest()
            if latest:
                return {"source": "learning", **latest}
            found = champion_score_reference()
            if found:
                return _period_score_psi(period, *found)
        except (ImportError, AttributeError):
            pass
    champion = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()
    if champion is None:
        return {"source": "none", "psi": None, "message": "no reference: there is no champion model yet"}
    reference = ((champion.manifest or {}).get("reference", {}) or {}).get("score_bands")
    if not reference:
        return {"source": "none", "psi": None, "model_version": champion.name,
                "message": f"no reference for {champion.name} yet: its training score distribution is stored "
                           "when it is promoted (built by the worker) or by the next hourly drift check"}
    actual = [sum(day[b] for day in bands_by_day.values()) for b in SCORE_BANDS]
    if sum(actual) == 0:
        return {"source": "manifest", "psi": None, "message": "no scored events in this period"}
    value = psi(reference, actual)
    return {"source": "manifest", "model_version": champion.name, "psi": round(value, 4),
            "status": _psi_status(value)}


def _psi_status(value: float) -> str:
    return "stable" if value < 0.1 else "watch" if value < 0.25 else "shifted"


def _period_score_psi(period: Period, champion: ModelVersion, reference: dict[str, Any]) -> dict[str, Any]:
    """The champion's scores made in the period, counted into the reference's bins in the
    database (bin i holds probabilities in (edge[i-1], edge[i]]), against the reference."""
    edges = list(reference["edges"])
    bin_of = Case(*[When(probability__lte=edge, then=Value(i)) for i, edge in enumerate(edges)],
                  default=Value(len(edges)), output_field=IntegerField())
    rows = (
        Score.objects.filter(model_version=champion, scored_at__gte=period.utc_start, scored_at__lt=period.utc_end)
        .annotate(bin=bin_of).values("bin").annotate(n=Count("transaction_id")).order_by()
    )
    counts = [0] * (len(edges) + 2)  # the last bin is for missing values, never missing here
    for row in rows:
        counts[row["bin"]] = row["n"]
    total = sum(counts)
    base = {"source": "reference", "model_version": champion.name, "scores": total, "time_base": "scored time"}
    if total == 0:
        return {**base, "psi": None, "message": f"no scores by {champion.name} made in this period"}
    value = psi(reference["shares"], [n / total for n in counts])
    return {**base, "psi": round(value, 4), "status": _psi_status(value)}


def model_health(*, period: Period) -> dict[str, Any]:
    rollups = _rollups(period)
    precision = []
    scored = {r["tier"]: r["scored"] for r in rollups.exclude(tier="").values("tier").annotate(scored=Sum("scored")).order_by()}
    # Decided in the period by decision time, like ROI and Team.
    by_tier = {r["tier"]: r for r in _decided_cases(period).values("tier").annotate(
        flagged=Count("transaction_id", filter=_D_FLAGGED), cleared=Count("transaction_id", filter=_D_CLEARED)).order_by()}
    for tier in ("high", "medium", "low"):
        row = {**by_tier.get(tier, {"flagged": 0, "cleared": 0}), "scored": scored.get(tier, 0)}
        decided = int(row["flagged"] or 0) + int(row["cleared"] or 0)
        low, high = stats.wilson_interval(int(row["flagged"] or 0), decided)
        precision.append({
            "tier": tier, "scored": int(row["scored"] or 0), "flagged": int(row["flagged"] or 0),
            "cleared": int(row["cleared"] or 0), "precision": (row["flagged"] or 0) / decided if decided else None,
            "ci_low": low, "ci_high": high,
        })
    bands_by_day: dict[str, list[int]] = {}
    rows = (
        rollups.exclude(score_band=-1).annotate(day=TruncDate("hour", tzinfo=period.tz))
        .values("day", "score_band").annotate(n=Sum("scored")).order_by("day")
    )
    for row in rows:
        if period.start <= row["day"] <= period.end:
            bands_by_day.setdefault(row["day"].isoformat(), [0] * len(SCORE_BANDS))[min(row["score_band"], 10)] += row["n"]
    versions = [
        {
            "name": v.name, "status": v.status, "algorithm": v.algorithm, "created_at": v.created_at,
            "promoted_at": v.promoted_at, "test": _test_metrics(v.metrics),
        }
        for v in ModelVersion.objects.order_by("-created_at")[:20]
    ]
    return {
        "period": period.as_dict(),
        "time_base": {"precision": "decision time", "score_distribution": "event time"},
        "precision": precision,
        "score_distribution": [{"day": day, "bands": bands} for day, bands in sorted(bands_by_day.items())],
        "drift": _score_drift(period, bands_by_day),
        "versions": versions,
    }


def _test_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    test = (metrics or {}).get("test", {})
    high = test.get("high_tier", {})
    return {
        "rows": test.get("rows"), "roc_auc": test.get("roc_auc"), "average_precision": test.get("average_precision"),
        "high_precision": high.get("precision"), "high_recall": high.get("recall"),
    }


def team(*, period: Period) -> dict[str, Any]:
    """Decisions by decision time (undone ones do not count), as ROI and precision count them."""
    decisions = Decision.objects.filter(created_at__gte=period.utc_start, created_at__lt=period.utc_end, undone_at__isnull=True)
    per_day = (
        decisions.annotate(day=TruncDate("created_at", tzinfo=period.tz))
        .values("day", "reviewer__username").annotate(n=Count("id")).order_by("day", "reviewer__username")
    )
    waits = [
        (decided - scored).total_seconds()
        for decided, scored in decisions.values_list("created_at", "transaction__score__scored_at")
        if scored is not None
    ]
    oldest = oldest_open_high_case()
    now = timezone.now()
    # Why cases were decided: each standing clear and flag of the period by its code.
    reasons = (
        decisions.filter(verdict__in=("clear", "flag"))
        .values("verdict", "disposition__code", "disposition__label").annotate(n=Count("id"))
        .order_by("verdict", "-n", "disposition__code")
    )
    return {
        "period": period.as_dict(),
        "time_base": "decision time",
        "dispositions": [
            {"verdict": r["verdict"], "code": r["disposition__code"], "label": r["disposition__label"] or "no reason recorded",
             "decisions": r["n"]}
            for r in reasons
        ],
        # Now, not in the period: undecided cases past their due time, per tier.
        "sla": sla_breaches(),
        "decisions": [{"day": r["day"].isoformat(), "reviewer": r["reviewer__username"], "decisions": r["n"]} for r in per_day],
        "cases_decided": _decided_cases(period).count(),
        "time_to_decision": {
            "decisions": len(waits),
            "median_seconds": stats.percentile(waits, 50),
            "p90_seconds": stats.percentile(waits, 90),
        },
        # The age counts from the event itself: a case raised on a weeks-old event has been a
        # risk for weeks, however recently it reached the queue (that is `queued_seconds`).
        "oldest_open_high": {
            "transaction_id": oldest["transaction_id"] if oldest else None,
            "event_time": oldest["event_time"] if oldest else None,
            "scored_at": oldest["scored_at"] if oldest else None,
            "age_seconds": (now - oldest["event_time"]).total_seconds() if oldest else None,
            "queued_seconds": (now - oldest["scored_at"]).total_seconds() if oldest else None,
            "measured_from": "event time",
            "open_high_cases": oldest["open_high_cases"] if oldest else 0,
        },
    }


def _share(condition: Q):
    return Avg(Case(When(condition, then=Value(1.0)), default=Value(0.0), output_field=FloatField()))


def segment_stats() -> dict[str, dict[str, Any]]:
    """Size and average profile of each segment, aggregated over every account (slow-ish:
    run at refresh time and stored in SegmentSummary)."""
    rows = AccountRisk.objects.values("segment").annotate(
        accounts=Count("id"),
        offboard=Count("id", filter=Q(offboard=True)),
        avg_events=Avg("events"),
        avg_max_score=Avg("max_score"),
        with_confirmed_fraud=_share(Q(confirmed_frauds__gt=0)),
        avg_failed_payments=Avg("failed_payments"),
        avg_devices=Avg("devices"),
        with_ring_links=_share(Q(ring_links__gt=0)),
        total_amount=Sum("amount_sum"),
    ).order_by()
    return {r.pop("segment"): {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows}


def account_segments() -> dict[str, Any]:
    """Stored segment profiles plus live counts of managers' decisions."""
    stored = {s.segment: s for s in SegmentSummary.objects.all()}
    decided = {
        (r["segment"], r["decision"]): r["n"]
        for r in AccountRisk.objects.exclude(decision="").values("segment", "decision").annotate(n=Count("id")).order_by()
    }
    total = sum(s.accounts for s in stored.values())
    segments = []
    for segment in ("high", "medium", "low"):
        summary = stored.get(segment)
        stats = summary.stats if summary else {"accounts": 0}
        segments.append({
            "segment": segment,
            **stats,
            "share": stats["accounts"] / total if total else 0.0,
            "offboarded": decided.get((segment, AccountRisk.Decision.OFFBOARDED), 0),
            "kept": decided.get((segment, AccountRisk.Decision.KEPT), 0),
        })
    refreshed = max((s.refreshed_at for s in stored.values()), default=None)
    meanings = segment_meanings()
    for item in segments:
        item["meaning"] = meanings[item["segment"]]
    return {"accounts": total, "refreshed_at": refreshed, "segments": segments,
            "points": segment_points_rule()}


def segment_meanings() -> dict[str, str]:
    """What puts an account in each segment, in the configured thresholds.

    Segments rank *evidence*, not the model's current score: a confirmed fraud alone is
    enough for High, and an account-takeover victim keeps scoring like the customer it is, so
    High's average max score can sit below Medium's, whose accounts are there because of
    the model's high scores or links to flagged accounts. Said on the page so the two
    columns are not read as a ranking mistake."""
    from insights.segments import Criteria

    c = Criteria.from_settings()
    return {
        "high": f"≥ {c.high_points} points: a confirmed fraud (4 points; past evidence, so the account's current "
                f"scores may be low, as for a taken-over customer), or several signals together",
        "medium": f"{c.medium_points}–{c.high_points - 1} points, no confirmed fraud: shares a device or IP with flagged "
                  f"accounts (2), or a pattern of high-risk events, score ≥ {c.high_score} on ≥ {c.high_share:.0%} "
                  f"of its events (3): what the model sees now",
        "low": f"under {c.medium_points} points: at most one weak signal (a high-risk event, "
               f"≥ {c.many_failed_payments} failed payments or ≥ {c.many_devices} devices)",
    }


def segment_points_rule() -> str:
    from insights.segments import Criteria

    c = Criteria.from_settings()
    return (f"Points: confirmed fraud 4 · high-risk events 1, or 3 when they are ≥ {c.high_share:.0%} of the account's "
            f"events · ≥ {c.many_failed_payments} failed payments 1 · ≥ {c.many_devices} devices 1 · ring link 2. "
            f"Average max score counts accounts with a scored event.")


OFFBOARDING_FIELDS = (
    "account_id", "segment", "points", "events", "max_score", "high_events", "confirmed_frauds", "failed_payments",
    "devices", "ips", "ring_links", "amount_sum", "last_seen", "reasons", "decision", "decided_at",
)


def offboarding_list(*, decision: str = "pending", segment: str | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """Accounts that meet an off-boarding criterion, most points first, with their reasons."""
    queryset = AccountRisk.objects.filter(offboard=True)
    if decision == "pending":
        queryset = queryset.filter(decision="")
    elif decision != "all":
        queryset = queryset.filter(decision=decision)
    if segment:
        queryset = queryset.filter(segment=segment)
    total = queryset.count()
    rows = list(
        queryset.order_by("-points", "-max_score", "account_id")
        .values(*OFFBOARDING_FIELDS, "decided_by__username")[offset : offset + limit]
    )
    for row in rows:
        row["decided_by"] = row.pop("decided_by__username")
    return {"total": total, "items": rows}
