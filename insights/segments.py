"""Account risk: per-account profiles, points, segments and off-boarding reasons.

Plain pandas over one row per event, so the same rules serve the stored data (the
dashboard) and a file of newly imported events (`offboarding_report`). The criteria are
explained, with their business reasoning, in docs/insights.md.

Event frame columns used: account_id, timestamp, amount, payment_status, device_id,
ip_address, is_fraud (1 / 0 / NaN unknown), risk_score (0–100).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

PROFILE_COLUMNS = (
    "account_id", "events", "first_seen", "last_seen", "amount_sum", "max_score", "mean_score",
    "high_events", "confirmed_frauds", "failed_payments", "devices", "ips",
)
SEGMENTS = ("high", "medium", "low")


@dataclass(frozen=True)
class Criteria:
    high_score: int = 80  # risk score at or above which an event counts as high risk
    many_failed_payments: int = 3
    many_devices: int = 4
    medium_points: int = 2
    high_points: int = 4
    offboard_confirmed_frauds: int = 2
    offboard_ring_links: int = 3
    offboard_high_events: int = 3
    offboard_failed_payments: int = 6
    # Share of an account's events that are high risk for "mostly high risk" (tiers are cut to
    # reviewer capacity, so a single high event is common; a pattern of them is not).
    high_share: float = 0.5
    max_shared_accounts: int = 50  # a device / IP shared by more accounts is a public network

    @classmethod
    def from_settings(cls) -> "Criteria":
        from django.conf import settings

        return cls(**{f.name: getattr(settings, f"INSIGHTS_{f.name.upper()}") for f in fields(cls)})


def profiles_from_events(events: pd.DataFrame, criteria: Criteria) -> pd.DataFrame:
    """One row per account with the PROFILE_COLUMNS, from one row per event."""
    frame = pd.DataFrame({
        "account_id": events["account_id"].astype(str),
        "timestamp": events["timestamp"],
        "amount": pd.to_numeric(events["amount"], errors="coerce").fillna(0.0),
        "score": pd.to_numeric(events["risk_score"], errors="coerce"),
        "fraud": pd.to_numeric(events["is_fraud"], errors="coerce").fillna(0.0) > 0.5,
        "failed": events["payment_status"].isin(["failed", "declined"]),
        "device": events["device_id"].fillna("").astype(str).replace("", np.nan),
        "ip": events["ip_address"].fillna("").astype(str).replace("", np.nan),
    })
    frame["high"] = frame["score"] >= criteria.high_score
    grouped = frame.groupby("account_id", sort=True)
    profiles = pd.DataFrame({
        "events": grouped.size(),
        "first_seen": grouped["timestamp"].min(),
        "last_seen": grouped["timestamp"].max(),
        "amount_sum": grouped["amount"].sum(),
        "max_score": grouped["score"].max(),
        "mean_score": grouped["score"].mean(),
        "high_events": grouped["high"].sum(),
        "confirmed_frauds": grouped["fraud"].sum(),
        "failed_payments": grouped["failed"].sum(),
        "devices": grouped["device"].nunique(),
        "ips": grouped["ip"].nunique(),
    }).reset_index()
    return profiles[list(PROFILE_COLUMNS)]


def entity_pairs_from_events(events: pd.DataFrame) -> pd.DataFrame:
    """Distinct (account_id, entity) pairs, entity = "device:<id>" or "ip:<address>"."""
    parts = []
    for column, prefix in (("device_id", "device:"), ("ip_address", "ip:")):
        values = events[column].fillna("").astype(str)
        keep = values != ""
        parts.append(pd.DataFrame({"account_id": events.loc[keep, "account_id"].astype(str), "entity": prefix + values[keep]}))
    return pd.concat(parts, ignore_index=True).drop_duplicates()


def is_flagged(profiles: pd.DataFrame, criteria: Criteria) -> pd.Series:
    """Accounts others get linked to: a confirmed fraud, or repeated high-risk events."""
    mostly_high = (profiles["high_events"] >= 2) & (profiles["high_events"] >= criteria.high_share * profiles["events"])
    return (profiles["confirmed_frauds"] >= 1) | mostly_high


def ring_links(pairs: pd.DataFrame, flagged_accounts: set[str], criteria: Criteria) -> pd.Series:
    """For each account, how many *other* flagged accounts share a device or IP with it.

    Entities shared by more than `max_shared_accounts` accounts (public Wi-Fi, carrier NAT)
    are ignored: they link strangers, not rings.
    """
    if pairs.empty or not flagged_accounts:
        return pd.Series(dtype="int64")
    sizes = pairs.groupby("entity")["account_id"].transform("size")
    pairs = pairs[(sizes > 1) & (sizes <= criteria.max_shared_accounts)]
    flagged = pairs[pairs["account_id"].isin(flagged_accounts)].rename(columns={"account_id": "other"})
    linked = pairs.merge(flagged, on="entity")
    linked = linked[linked["account_id"] != linked["other"]].drop_duplicates(["account_id", "other"])
    return linked.groupby("account_id").size()


def _reason(code: str, text: str) -> dict[str, str]:
    return {"code": code, "text": text}


def _score_one(row, c: Criteria) -> tuple[int, list[dict[str, str]], list[dict[str, str]]]:
    """Points and why (for the segment), and off-boarding criteria met (with reasons)."""
    points, why, offboard = 0, [], []
    frauds, high, failed, links = int(row.confirmed_frauds), int(row.high_events), int(row.failed_payments), int(row.ring_links)
    if frauds:
        points += 4
        why.append(_reason("confirmed_fraud", f"{frauds} confirmed fraud event{'s' if frauds > 1 else ''}"))
    mostly_high = high >= 2 and high >= c.high_share * row.events
    if high:
        points += 3 if mostly_high else 1
        share = f", {high / row.events:.0%} of its events" if mostly_high else ""
        why.append(_reason("high_risk_events", f"{high} high-risk event{'s' if high > 1 else ''} (score ≥ {c.high_score}{share})"))
    if failed >= c.many_failed_payments:
        points += 1
        why.append(_reason("failed_payments", f"{failed} failed or declined payments"))
    if row.devices >= c.many_devices:
        points += 1
        why.append(_reason("many_devices", f"{int(row.devices)} different devices"))
    if links:
        points += 2
        why.append(_reason("ring_links", f"shares a device or IP with {links} flagged account{'s' if links > 1 else ''}"))

    if frauds >= c.offboard_confirmed_frauds:
        offboard.append(_reason("repeat_fraud", f"{frauds} confirmed frauds (criterion: ≥ {c.offboard_confirmed_frauds})"))
    if frauds >= 1 and links >= 1:
        offboard.append(_reason("fraud_in_ring", f"confirmed fraud and linked to {links} flagged account{'s' if links > 1 else ''}"))
    if links >= c.offboard_ring_links:
        offboard.append(_reason("ring_hub", f"linked to {links} flagged accounts (criterion: ≥ {c.offboard_ring_links})"))
    if high >= c.offboard_high_events and mostly_high:
        offboard.append(_reason(
            "repeated_high_risk",
            f"{high} high-risk events, {high / row.events:.0%} of its events (criterion: ≥ {c.offboard_high_events} and ≥ {c.high_share:.0%})",
        ))
    if failed >= c.offboard_failed_payments and high >= 1:
        offboard.append(_reason("card_testing", f"{failed} failed payments with high-risk activity (criterion: ≥ {c.offboard_failed_payments})"))
    return points, why, offboard


def segment_accounts(profiles: pd.DataFrame, pairs: pd.DataFrame, criteria: Criteria) -> pd.DataFrame:
    """Profiles plus ring_links, points, segment, offboard (bool), reasons and offboard_reasons."""
    out = profiles.copy()
    flagged = set(out.loc[is_flagged(out, criteria), "account_id"])
    links = ring_links(pairs, flagged, criteria)
    out["ring_links"] = out["account_id"].map(links).fillna(0).astype("int64")
    scored = [_score_one(row, criteria) for row in out.itertuples(index=False)]
    out["points"] = [s[0] for s in scored]
    out["reasons"] = [s[1] for s in scored]
    out["offboard_reasons"] = [s[2] for s in scored]
    out["offboard"] = out["offboard_reasons"].map(bool)
    out["segment"] = np.where(
        out["points"] >= criteria.high_points, "high", np.where(out["points"] >= criteria.medium_points, "medium", "low")
    )
    return out


def segment_summary(segmented: pd.DataFrame) -> pd.DataFrame:
    """Characteristics of each segment: size and the average account in it."""
    rows = []
    for segment in SEGMENTS:
        part = segmented[segmented["segment"] == segment]
        n = len(part)
        rows.append({
            "segment": segment,
            "accounts": n,
            "share": n / len(segmented) if len(segmented) else 0.0,
            "offboard": int(part["offboard"].sum()) if n else 0,
            "avg_events": float(part["events"].mean()) if n else 0.0,
            "avg_max_score": float(part["max_score"].mean()) if n and part["max_score"].notna().any() else None,
            "with_confirmed_fraud": float((part["confirmed_frauds"] > 0).mean()) if n else 0.0,
            "avg_failed_payments": float(part["failed_payments"].mean()) if n else 0.0,
            "avg_devices": float(part["devices"].mean()) if n else 0.0,
            "with_ring_links": float((part["ring_links"] > 0).mean()) if n else 0.0,
            "total_amount": float(part["amount_sum"].sum()) if n else 0.0,
        })
    return pd.DataFrame(rows)
