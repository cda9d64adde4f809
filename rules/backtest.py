"""Backtest a rule set on stored events: what it would have hit, against the labels known now.

The events of the period are read once (only the columns the rules need) and every rule
runs over them as numpy columns, the same compiled conditions the /score path uses for a
batch. Labels are the ones known now (imported labels whose label time has passed, and
reviewers' decisions): precision is measured on the hits that have one.
"""
from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any, Mapping

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.db.copy_frame import copy_frame
from rules.engine import CompiledSet, Rulebook, compile_set, load_rulebook
from rules.language import EVENT_FIELDS, NUM, Vocabulary
from rules.models import BacktestRun
from rules.selectors import rules_generation
from triage.models import Score

EXAMPLES = 10
# Actions that put an event in front of reviewers in the high tier.
_TO_REVIEW = {"block", "review", "tier_high"}


def _columns_sql(names: set[str], attributes: set[str]) -> list[tuple[str, str, pa.DataType]]:
    columns: list[tuple[str, str, pa.DataType]] = [
        ("id", "t.id", pa.int64()),
        ("client_id", "t.client_id", pa.int64()),
        ("event_id", "t.event_id", pa.string()),
        ("account_id", "t.account_id", pa.string()),
        ("timestamp", "t.timestamp AT TIME ZONE 'UTC'", pa.timestamp("us")),
        ("amount", "t.amount::float8", pa.float64()),
        ("label", "CASE WHEN t.label_known_at IS NULL OR t.label_known_at <= now() THEN t.is_fraud::int END", pa.float64()),
        ("probability", "s.probability", pa.float64()),
        ("risk_score", "COALESCE((s.rules->'model'->>'risk_score')::int, s.risk_score)", pa.float64()),
        ("model_tier", "COALESCE(s.rules->'model'->>'tier', s.tier)", pa.string()),
    ]
    have = {c[0] for c in columns}
    for name in sorted(names - have):
        if name in EVENT_FIELDS:
            expr = "host(t.ip_address)" if name == "ip_address" else f"t.{name}"
            if name == "amount":
                continue
            columns.append((name, f"{expr}::float8" if EVENT_FIELDS[name] == NUM else f"NULLIF({expr}, '')",
                            pa.float64() if EVENT_FIELDS[name] == NUM else pa.string()))
        else:  # a feature, as the model saw it
            columns.append((name, f"(s.features->>'{_quoted(name)}')::float8", pa.float64()))
    for key in sorted(attributes):
        columns.append((f"attributes.{key}", f"(t.attributes->'{_quoted(key)}')::text", pa.string()))
    return columns


def _quoted(text: str) -> str:
    """A key inside a SQL text literal of a statement with bound parameters."""
    return text.replace("'", "''").replace("%", "%%")


def read_period(start: datetime, end: datetime, rule_set: CompiledSet, list_fields: set[str] = frozenset(), *, limit: int) -> pd.DataFrame:
    """The scored events of [start, end) with the columns the rules read, oldest first."""


    names = set(rule_set.names) | {f for f in list_fields if not f.startswith("attributes.")}
    attributes = set(rule_set.attributes) | {f.split(".", 1)[1] for f in list_fields if f.startswith("attributes.")}
    if connection.vendor != "postgresql":
        return _read_period_orm(start, end, names, attributes, limit=limit)
    columns = _columns_sql(names, attributes)
    # Aliases are positional: the frame's column names come from `columns`, never from SQL.
    select = ", ".join(f"{expr} AS c{i}" for i, (_, expr, _) in enumerate(columns))
    sql = (f"COPY (SELECT {select} FROM triage_transaction t JOIN triage_score s ON s.transaction_id = t.id "
           f"WHERE t.timestamp >= %s AND t.timestamp < %s ORDER BY t.timestamp DESC LIMIT {int(limit)}) "
           "TO STDOUT WITH (FORMAT csv)")
    frame = copy_frame(sql, (start, end), columns).to_pandas()
    for name, _, kind in columns:
        if name.startswith("attributes."):  # JSON text: numbers back to numbers, texts unquoted
            frame[name] = [None if v is None else orjson.loads(v) for v in frame[name].tolist()]
        elif pa.types.is_string(kind):
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame.iloc[::-1].reset_index(drop=True)


def _read_period_orm(start: datetime, end: datetime, names: set[str], attributes: set[str], *, limit: int) -> pd.DataFrame:
    """The same columns through the ORM, for the demo's embedded SQLite."""

    scores = (Score.objects.select_related("transaction").filter(transaction__timestamp__gte=start, transaction__timestamp__lt=end)
              .order_by("-transaction__timestamp")[:limit])
    now = datetime.now(tz=start.tzinfo)
    rows = []
    for s in scores:
        t, model = s.transaction, (s.rules or {}).get("model") or {}
        known = t.is_fraud is not None and (t.label_known_at is None or t.label_known_at <= now)
        row = {"id": t.pk, "client_id": t.client_id, "event_id": t.event_id, "account_id": t.account_id,
               "timestamp": t.timestamp.replace(tzinfo=None), "amount": math.nan if t.amount is None else float(t.amount),
               "label": float(t.is_fraud) if known else math.nan, "probability": s.probability,
               "risk_score": float(model.get("risk_score", s.risk_score)), "model_tier": model.get("tier", s.tier)}
        for name in names - set(row):
            if name in EVENT_FIELDS:
                value = getattr(t, name)
                row[name] = (math.nan if value is None else float(value)) if EVENT_FIELDS[name] == NUM else (value or None)
            else:
                value = (s.features or {}).get(name)
                row[name] = math.nan if value is None else float(value)
        for key in attributes:
            row[f"attributes.{key}"] = (t.attributes or {}).get(key)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=None if rows else ["id", "client_id", "event_id", "account_id", "timestamp", "amount",
                                                            "label", "probability", "risk_score", "model_tier"])
    return frame.iloc[::-1].reset_index(drop=True)


def figures(frame: pd.DataFrame, rule_set: CompiledSet, rulebook: Rulebook, *, now: float) -> dict[str, Any]:
    """Hits and what they would have caught, per rule and for the set (first deciding hit)."""
    n = len(frame)
    columns: Mapping[str, np.ndarray] = {name: frame[name].to_numpy() for name in frame.columns}
    member_many = rulebook.member_many(now)
    client_ids = frame["client_id"].to_numpy() if n else np.zeros(0, dtype=np.int64)
    label = frame["label"].to_numpy(dtype="float64") if n else np.zeros(0)
    amount = np.nan_to_num(frame["amount"].to_numpy(dtype="float64")) if n else np.zeros(0)
    model_high = (frame["model_tier"].to_numpy() == "high") if n else np.zeros(0, dtype=bool)
    days = pd.to_datetime(frame["timestamp"]).dt.strftime("%Y-%m-%d").to_numpy() if n else np.array([], dtype=object)
    day_count = max(1, len(set(days.tolist())))
    fraud_total = int(np.nansum(label == 1.0))

    def summary(mask: np.ndarray, action_to_review: np.ndarray | bool) -> dict[str, Any]:
        hits = int(mask.sum())
        labeled = int((mask & ~np.isnan(label)).sum())
        fraud = int((mask & (label == 1.0)).sum())
        added = mask & action_to_review & ~model_high
        return {
            "hits": hits,
            "hit_rate": hits / n if n else 0.0,
            "hits_per_day": hits / day_count,
            "labeled_hits": labeled,
            "fraud_hits": fraud,
            "precision": fraud / labeled if labeled else None,
            "recall": fraud / fraud_total if fraud_total else None,
            "money_caught": round(float(amount[mask & (label == 1.0)].sum()), 2),
            "legitimate_money_hit": round(float(amount[mask & (label == 0.0)].sum()), 2),
            "reviews_added_per_day": float(added.sum()) / day_count,
            "overlap_with_model_high": float((mask & model_high).sum()) / hits if hits else None,
        }

    per_rule = []
    any_hit = np.zeros(n, dtype=bool)
    to_review = np.zeros(n, dtype=bool)
    decided = np.zeros(n, dtype=bool)
    first_rule = np.full(n, None, dtype=object)
    for rule in rule_set.rules:
        mask = rule.condition.hits_many(columns, member_many, n) if n else np.zeros(0, dtype=bool)
        if rule.clients:
            mask &= np.isin(client_ids, list(rule.clients))
        sends = rule.action in _TO_REVIEW
        per_rule.append({"rule": rule.name, "action": rule.action, **summary(mask, sends)})
        fresh = mask & ~decided if rule.action != "reason" else np.zeros(n, dtype=bool)
        to_review |= fresh & sends
        decided |= fresh
        first_rule[(mask & (first_rule == None))] = rule.name  # noqa: E711 (numpy elementwise)
        any_hit |= mask
    by_day = []
    if n:
        table = pd.DataFrame({"day": days, "hit": any_hit, "fraud": any_hit & (label == 1.0)})
        grouped = table.groupby("day").agg(events=("hit", "size"), hits=("hit", "sum"), fraud_hits=("fraud", "sum"))
        by_day = [{"day": day, "events": int(r.events), "hits": int(r.hits), "fraud_hits": int(r.fraud_hits)}
                  for day, r in grouped.iterrows()]
    examples = []
    for i in np.flatnonzero(any_hit)[-EXAMPLES:][::-1]:
        examples.append({
            "transaction_id": int(frame["id"].iat[i]), "event_id": frame["event_id"].iat[i],
            "account_id": frame["account_id"].iat[i], "timestamp": pd.Timestamp(frame["timestamp"].iat[i]).isoformat() + "Z",
            "amount": None if math.isnan(frame["amount"].iat[i]) else float(frame["amount"].iat[i]),
            "label": None if math.isnan(label[i]) else ("fraud" if label[i] == 1.0 else "legitimate"),
            "model_tier": frame["model_tier"].iat[i], "rule": first_rule[i],
        })
    return {
        "events": n, "days": day_count if n else 0, "labeled": int((~np.isnan(label)).sum()), "fraud": fraud_total,
        "set": summary(any_hit, to_review), "rules": per_rule, "by_day": by_day, "examples": examples,
    }


def backtest(run_id: int) -> None:
    """Run a stored BacktestRun and store its figures (or why it failed)."""



    run = BacktestRun.objects.get(pk=run_id)
    run.status = BacktestRun.Status.RUNNING
    run.save(update_fields=["status"])
    try:
        started = time.perf_counter()
        rulebook = load_rulebook(rules_generation())

        rule_set = compile_set(run.version.number, run.rules, Vocabulary.default(lists=rulebook.lists))
        frame = read_period(run.period_start, run.period_end, rule_set, limit=settings.RULES_BACKTEST_MAX_EVENTS)
        read_s = time.perf_counter() - started
        result = figures(frame, rule_set, rulebook, now=time.time())
        result["seconds"] = {"read": round(read_s, 3), "total": round(time.perf_counter() - started, 3)}
        result["capped"] = len(frame) >= settings.RULES_BACKTEST_MAX_EVENTS
        run.figures, run.status = result, BacktestRun.Status.DONE
    except Exception as exc:  # the run says why; the page shows it
        run.status, run.error = BacktestRun.Status.FAILED, f"{type(exc).__name__}: {exc}"
    run.finished_at = timezone.now()
    run.save(update_fields=["figures", "status", "error", "finished_at"])
