"""Lists and rules applied to scored events, in process, compiled once per change.

Order of precedence (as card networks' and Stripe Radar's allow-before-block): allow
lists, block lists, watch lists, then the active rules by priority (lowest number first).
Every hit is reported; the first hit whose action decides (allow, block, review, a tier)
sets the outcome, and "reason" rules only add their words:

- block: tier high (risk score at least 80), the answer says `action: "block"`;
- review: tier high, so reviewers see it first; `action: "review"`;
- allow: tier low (risk score at most 49) and the case is closed without review; no
  label is written, so the model never learns "legitimate" from a list;
- tier_low / tier_medium / tier_high: the tier, the risk score moved into its band.

The model's probability is never changed: it stays what the model said.

One module on purpose (past 500 lines): the precedence, the compiled rulebook and the
per-event and per-column paths are one definition; split, the order of precedence would
be spelled twice.
"""
from __future__ import annotations

import ipaddress
import logging
import math
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection
from django.utils import timezone

from rules.language import EVENT_FIELDS, NUM, Condition, RuleSyntaxError, Vocabulary, parse
from rules.models import EntityList, ListEntry, RuleSetVersion
from rules.selectors import rules_generation

ACTIONS = {
    "block": "Block",
    "review": "Send to review",
    "allow": "Allow (skip review)",
    "tier_high": "Set tier high",
    "tier_medium": "Set tier medium",
    "tier_low": "Set tier low",
    "reason": "Add a reason only",
}
DECIDING = {"block", "review", "allow", "tier_high", "tier_medium", "tier_low"}
_BANDS = {"low": (0, 49), "medium": (50, 79), "high": (80, 100)}
_ACTION_TIER = {"block": "high", "review": "high", "allow": "low", "tier_high": "high", "tier_medium": "medium",
                "tier_low": "low"}
_LIST_ACTION = {"allow": "allow", "block": "block", "watch": "review"}
# The event field each list kind looks at, and how a reason names it.
LIST_FIELDS = {"account": ("account_id", "account"), "device": ("device_id", "device"), "ip": ("ip_address", "IP address"),
               "merchant": ("merchant_id", "merchant"), "country": ("country", "country")}
# From this many events the rules run over columns (numpy) rather than one event at a time.
VECTORISED_FROM = 20


@dataclass(frozen=True)
class Hit:
    rule: str
    action: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "action": self.action, "reason": self.reason}


@dataclass
class Outcome:
    """What lists and rules did to one event's score."""

    tier: str
    risk_score: int
    action: str | None = None
    hits: list[Hit] = field(default_factory=list)
    version: int | None = None
    model_tier: str | None = None
    model_risk_score: int | None = None

    @property
    def closes_case(self) -> bool:
        return self.action == "allow"

    def stored(self) -> dict[str, Any] | None:
        if not self.hits:
            return None
        out: dict[str, Any] = {"version": self.version, "action": self.action, "hits": [h.as_dict() for h in self.hits]}
        if self.model_tier is not None:
            out["model"] = {"tier": self.model_tier, "risk_score": self.model_risk_score}
        return out


def _clamp(score: int, tier: str) -> int:
    low, high = _BANDS[tier]
    return int(min(max(score, low), high))


# ---- lists -----------------------------------------------------------------------------

def normalise_value(kind: str, value: str) -> str:
    """An entry's value as membership compares it; ValueError says why it cannot be one."""
    value = (value or "").strip()
    if not value:
        raise ValueError("empty value")
    if len(value) > 128:
        raise ValueError("at most 128 characters")
    if kind == "ip":
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or CIDR range") from None
        return str(network.network_address) if network.num_addresses == 1 else str(network)
    if kind == "country":
        return value.upper()
    return value


def _ip_int(text: str) -> tuple[int, int] | None:
    """(address as an integer, 4 or 6), parsed by the C library: several times faster than
    the ipaddress module, which matters for a column of a million addresses."""
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big"), 4
    except OSError:
        pass
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big"), 6
    except OSError:
        return None


@dataclass
class _ListIndex:
    name: str
    kind: str
    purpose: str
    attribute: str
    exact: dict[str, float]                        # value -> expiry (epoch s; inf: never)
    reasons: dict[str, str]
    networks: dict[tuple[int, int], dict[int, tuple[float, str]]]  # (version, prefix) -> {network int: (expiry, text)}

    @property
    def field(self) -> str:
        return f"attributes.{self.attribute}" if self.kind == "attribute" else LIST_FIELDS[self.kind][0]

    def find(self, value: Any, now: float) -> str | None:
        """The matching entry's text (the value or its range), or None."""
        if value is None or value == "":
            return None
        text = str(value).upper() if self.kind == "country" else str(value)
        expiry = self.exact.get(text)
        if expiry is not None and expiry > now:
            return text
        if self.networks:
            parsed = _ip_int(text)
            if parsed is None:
                return None
            as_int, version = parsed
            for (ip_version, prefix), networks in self.networks.items():
                if ip_version != version:
                    continue
                bits = 32 if ip_version == 4 else 128
                hit = networks.get(as_int >> (bits - prefix) << (bits - prefix))
                if hit is not None and hit[0] > now:
                    return hit[1]
        return None

    def find_many(self, values: np.ndarray, now: float) -> np.ndarray:
        """1.0 member, 0.0 not, NaN missing value."""
        if not self.networks:  # dictionary look-ups only, done by pandas
            series = pd.Series(values, dtype=object)
            missing = series.isna().to_numpy() | (series == "").to_numpy()
            texts = series.where(~missing, "").astype(str)
            if self.kind == "country":
                texts = texts.str.upper()
            expiry = texts.map(self.exact).to_numpy(dtype="float64")  # NaN: not on the list
            out = (expiry > now).astype("float64")
            out[missing] = np.nan
            return out
        out = np.zeros(len(values))
        for i, v in enumerate(values):
            if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
                out[i] = np.nan
            else:
                out[i] = 0.0 if self.find(v, now) is None else 1.0
        return out


def build_list(name: str, kind: str, purpose: str, attribute: str, entries: Iterable[tuple[str, float, str]]) -> _ListIndex:
    """entries: (value, expiry in epoch seconds or inf, reason)."""
    exact: dict[str, float] = {}
    reasons: dict[str, str] = {}
    networks: dict[tuple[int, int], dict[int, tuple[float, str]]] = {}
    for value, expiry, reason in entries:
        reasons[value] = reason
        if kind == "ip" and "/" in value:
            network = ipaddress.ip_network(value, strict=False)
            networks.setdefault((network.version, network.prefixlen), {})[int(network.network_address)] = (expiry, value)
        else:
            exact[value] = max(expiry, exact.get(value, -math.inf))
    return _ListIndex(name, kind, purpose, attribute, exact, reasons, networks)


# ---- rule sets -------------------------------------------------------------------------

@dataclass(frozen=True)
class CompiledRule:
    name: str
    condition: Condition
    action: str
    reason: str
    priority: int
    clients: frozenset[int]  # empty: every client

    def applies_to(self, client_id: int) -> bool:
        return not self.clients or client_id in self.clients


@dataclass(frozen=True)
class CompiledSet:
    version: int
    rules: tuple[CompiledRule, ...]
    pk: int | None = None  # the RuleSetVersion row, for storing shadow hits without a look-up

    @property
    def names(self) -> frozenset[str]:
        return frozenset(n for r in self.rules for n in r.condition.names)

    @property
    def attributes(self) -> frozenset[str]:
        return frozenset(a for r in self.rules for a in r.condition.attributes)


def rule_check(rule: Mapping[str, Any], vocabulary: Vocabulary) -> dict[str, Any]:
    """A rule as stored, checked: name, condition (parsed), action, reason, priority,
    clients. ValueError (or RuleSyntaxError, with where) names the field at fault."""
    name = str(rule.get("name") or "").strip()
    if not name:
        raise ValueError("name: give the rule a name")
    if len(name) > 80:
        raise ValueError("name: at most 80 characters")
    action = rule.get("action")
    if action not in ACTIONS:
        raise ValueError(f"action: one of {', '.join(ACTIONS)}")
    try:
        priority = int(rule.get("priority", 100))
    except (TypeError, ValueError):
        raise ValueError("priority: a whole number") from None
    if not 0 <= priority <= 100000:
        raise ValueError("priority: between 0 and 100000")
    reason = str(rule.get("reason") or "").strip()[:300] or name
    clients = sorted({int(c) for c in rule.get("clients") or []})
    parse(str(rule.get("condition") or ""), vocabulary)  # raises RuleSyntaxError with the position
    return {"name": name, "condition": str(rule["condition"]).strip(), "action": action, "reason": reason,
            "priority": priority, "clients": clients}


def compile_set(version: int, rules: Sequence[Mapping[str, Any]], vocabulary: Vocabulary, pk: int | None = None) -> CompiledSet:
    compiled = [
        CompiledRule(name=r["name"], condition=parse(r["condition"], vocabulary), action=r["action"],
                     reason=r.get("reason") or r["name"], priority=int(r.get("priority", 100)),
                     clients=frozenset(int(c) for c in r.get("clients") or []))
        for r in rules
    ]
    compiled.sort(key=lambda r: r.priority)  # stable: equal priorities keep the written order
    return CompiledSet(version=version, rules=tuple(compiled), pk=pk)


@dataclass
class Rulebook:
    """Everything the scoring path needs, compiled: lists, the active and shadow sets."""

    lists: dict[str, _ListIndex]
    active: CompiledSet | None
    shadow: CompiledSet | None
    generation: int = 0

    @property
    def empty(self) -> bool:
        acting = any(lst.purpose in _LIST_ACTION and (lst.exact or lst.networks) for lst in self.lists.values())
        return not acting and not (self.active and self.active.rules) and not (self.shadow and self.shadow.rules)

    def member(self, now: float):
        def member(name: str, value: Any) -> bool | None:
            lst = self.lists.get(name)
            return None if lst is None else lst.find(value, now) is not None
        return member

    def member_many(self, now: float):
        # Several rules often ask about one list and one column: look each pair up once.
        seen: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}  # values kept, so ids stay theirs

        def member_many(name: str, values: np.ndarray) -> np.ndarray:
            key = (name, id(values))
            if key not in seen:
                lst = self.lists.get(name)
                seen[key] = (np.full(len(values), np.nan) if lst is None else lst.find_many(values, now), values)
            return seen[key][0]
        return member_many

    # One event at a time: the /score path for small requests.
    def decide(self, *, client_id: int, event: Mapping[str, Any], features: Mapping[str, Any], probability: float,
               risk_score: int, tier: str, now: float | None = None) -> tuple[Outcome, list[Hit]]:
        """The outcome for the event, and the hits the shadow set would have had."""
        now = time.time() if now is None else now
        get = _getter(event, features, probability, risk_score, tier)
        member = self.member(now)
        hits = self._list_hits(get, now)
        if self.active:
            hits += [Hit(r.name, r.action, r.reason) for r in self.active.rules
                     if r.applies_to(client_id) and r.condition.hits(get, member)]
        shadow = [Hit(r.name, r.action, r.reason) for r in self.shadow.rules
                  if r.applies_to(client_id) and r.condition.hits(get, member)] if self.shadow else []
        return self._outcome(hits, tier, risk_score), shadow

    def decide_many(self, *, client_ids: Sequence[int], events: Sequence[Mapping[str, Any]], features: Sequence[Mapping[str, Any]],
                    probability: Sequence[float], risk_score: Sequence[int], tier: Sequence[str],
                    now: float | None = None) -> tuple[list[Outcome], list[list[Hit]]]:
        n = len(events)
        if n < VECTORISED_FROM:
            pairs = [self.decide(client_id=c, event=e, features=f, probability=p, risk_score=s, tier=t, now=now)
                     for c, e, f, p, s, t in zip(client_ids, events, features, probability, risk_score, tier)]
            return [o for o, _ in pairs], [s for _, s in pairs]
        now = time.time() if now is None else now
        columns = event_columns(events, features, probability, risk_score, tier, self._needed())
        hits, shadow = self.hits_over(columns, np.asarray(client_ids), n, now)
        return [self._outcome(h, t, s) for h, t, s in zip(hits, tier, risk_score)], shadow

    def hits_over(self, columns: Mapping[str, np.ndarray], client_ids: np.ndarray, n: int, now: float) -> tuple[list[list[Hit]], list[list[Hit]]]:
        """Per row, the active hits (lists first) and the shadow hits, over columns."""
        member_many = self.member_many(now)
        hits: list[list[Hit]] = [[] for _ in range(n)]
        for lst in self._acting_lists():
            values = columns.get(lst.field)
            if values is None:
                continue
            for i in np.flatnonzero(lst.find_many(values, now) == 1.0):
                hits[i].append(self._list_hit(lst, values[i], now))
        if self.active:
            for rule, rows in self._rule_rows(self.active, columns, client_ids, member_many, n):
                for i in rows:
                    hits[i].append(Hit(rule.name, rule.action, rule.reason))
        shadow: list[list[Hit]] = [[] for _ in range(n)]
        if self.shadow:
            for rule, rows in self._rule_rows(self.shadow, columns, client_ids, member_many, n):
                for i in rows:
                    shadow[i].append(Hit(rule.name, rule.action, rule.reason))
        return hits, shadow

    @staticmethod
    def _rule_rows(rule_set: CompiledSet, columns, client_ids, member_many, n):
        for rule in rule_set.rules:
            mask = rule.condition.hits_many(columns, member_many, n)
            if rule.clients:
                mask &= np.isin(client_ids, list(rule.clients))
            yield rule, np.flatnonzero(mask)

    def _needed(self) -> set[str]:
        names: set[str] = {lst.field for lst in self._acting_lists()}
        for rule_set in (self.active, self.shadow):
            if rule_set:
                names |= rule_set.names | {f"attributes.{a}" for a in rule_set.attributes}
        return names

    def _acting_lists(self) -> list[_ListIndex]:
        order = {"allow": 0, "block": 1, "watch": 2}
        return sorted((lst for lst in self.lists.values() if lst.purpose in order),
                      key=lambda lst: (order[lst.purpose], lst.name))

    def _list_hits(self, get, now: float) -> list[Hit]:
        out = []
        for lst in self._acting_lists():
            value = get(lst.field)
            if (entry := lst.find(value, now)) is not None:
                out.append(self._list_hit(lst, value, now, entry))
        return out

    @staticmethod
    def _list_hit(lst: _ListIndex, value: Any, now: float, entry: str | None = None) -> Hit:
        entry = entry or lst.find(value, now) or str(value)
        words = f"{lst.attribute} attribute" if lst.kind == "attribute" else LIST_FIELDS[lst.kind][1]
        shown = value if entry == str(value) or entry == str(value).upper() else f"{value} (in {entry})"
        reason = f"{words} {shown} is on the {lst.purpose} list {lst.name!r}"
        if lst.reasons.get(entry):
            reason += f": {lst.reasons[entry]}"
        return Hit(f"list:{lst.name}", _LIST_ACTION[lst.purpose], reason)

    def _outcome(self, hits: list[Hit], tier: str, risk_score: int) -> Outcome:
        outcome = Outcome(tier=tier, risk_score=int(risk_score), hits=hits,
                          version=self.active.version if self.active else None)
        deciding = next((h for h in hits if h.action in DECIDING), None)
        if deciding is not None:
            outcome.action = deciding.action
            new_tier = _ACTION_TIER[deciding.action]
            new_score = _clamp(int(risk_score), new_tier)
            if new_tier != tier or new_score != risk_score:
                outcome.model_tier, outcome.model_risk_score = tier, int(risk_score)
                outcome.tier, outcome.risk_score = new_tier, new_score
        return outcome


def _getter(event: Mapping[str, Any], features: Mapping[str, Any], probability: float, risk_score: int, tier: str):
    model = {"probability": probability, "risk_score": risk_score, "model_tier": tier}
    attributes = event.get("attributes") or {}

    def get(name: str) -> Any:
        if name in EVENT_FIELDS:
            value = event.get(name)
            return str(value) if name == "ip_address" and value is not None else value
        if name in model:
            return model[name]
        if name.startswith("attributes."):
            return attributes.get(name[len("attributes."):])
        return features.get(name)
    return get


def event_columns(events: Sequence[Mapping[str, Any]], features: Sequence[Mapping[str, Any]], probability, risk_score, tier,
                  names: Iterable[str]) -> dict[str, np.ndarray]:
    """The columns the rules read, from events as /score holds them."""

    out: dict[str, np.ndarray] = {}
    for name in names:
        if name == "probability":
            out[name] = np.asarray(probability, dtype="float64")
        elif name == "risk_score":
            out[name] = np.asarray(risk_score, dtype="float64")
        elif name == "model_tier":
            out[name] = np.asarray(tier, dtype=object)
        elif name.startswith("attributes."):
            key = name[len("attributes."):]
            out[name] = np.array([(e.get("attributes") or {}).get(key) for e in events], dtype=object)
        elif name in EVENT_FIELDS:
            values = [e.get(name) for e in events]
            if EVENT_FIELDS[name] == NUM:
                out[name] = np.array([math.nan if v is None else float(v) for v in values])
            else:
                out[name] = np.array([None if v is None else str(v) for v in values], dtype=object)
        else:
            out[name] = np.array([math.nan if f.get(name) is None else float(f[name]) for f in features])
    return out


# ---- the process's rulebook ------------------------------------------------------------

_lock = threading.Lock()
_cached: Rulebook | None = None
_checked_at = 0.0
_reloading: threading.Thread | None = None


def rulebook() -> Rulebook:
    """The compiled lists and rules, reloaded when a change was recorded; the count of
    changes is read at most every RULES_REFRESH_SECONDS, so one query per process per
    few seconds, not one per request.

    A change seen that way is loaded by a thread of its own while requests go on with the
    rules they had: loading 100,000 list entries takes a few hundred milliseconds, which
    every web process would otherwise add to one unlucky request. The first load of a
    process, and a reload after a change made in this process, happen at once."""
    global _cached, _checked_at, _reloading

    now = time.monotonic()
    if _cached is not None and now - _checked_at < settings.RULES_REFRESH_SECONDS:
        return _cached
    with _lock:
        if _cached is not None and now - _checked_at < settings.RULES_REFRESH_SECONDS:
            return _cached

        generation = rules_generation()
        _checked_at = now
        if _cached is None:
            _cached = load_rulebook(generation)
        elif _cached.generation != generation and not (_reloading and _reloading.is_alive()):
            _reloading = threading.Thread(target=_reload, args=(generation,), name="rulebook-reload", daemon=True)
            _reloading.start()
        return _cached


def _reload(generation: int) -> None:
    global _cached

    try:
        fresh = load_rulebook(generation)
        with _lock:
            if _cached is not None:  # forgotten meanwhile: the next score loads at once
                _cached = fresh
    except Exception:  # the old rules keep acting; the next check tries again

        logging.getLogger(__name__).exception("could not reload the rules; keeping the ones loaded")
    finally:
        connection.close()  # this thread's own connection


def forget_rulebook() -> None:
    """After a change in this process: the next score reloads at once."""
    global _cached
    with _lock:
        _cached = None


def load_rulebook(generation: int) -> Rulebook:


    lists: dict[str, _ListIndex] = {}
    now = timezone.now()
    entries: dict[int, list[tuple[str, float, str]]] = {}
    rows = (ListEntry.objects.exclude(expires_at__lte=now)
            .values_list("entity_list_id", "value", "expires_at", "reason").iterator(chunk_size=20000))
    for list_id, value, expires_at, reason in rows:
        entries.setdefault(list_id, []).append((value, math.inf if expires_at is None else expires_at.timestamp(), reason))
    for lst in EntityList.objects.all():
        lists[lst.name] = build_list(lst.name, lst.kind, lst.purpose, lst.attribute, entries.get(lst.pk, []))
    vocabulary = Vocabulary.default(lists=lists)
    sets: dict[str, CompiledSet] = {}
    for version in RuleSetVersion.objects.filter(status__in=["active", "shadow"]):
        try:
            sets[version.status] = compile_set(version.number, version.rules, vocabulary, pk=version.pk)
        except RuleSyntaxError:  # a list a rule names was deleted: that version cannot run

            logging.getLogger(__name__).exception("rule set v%s no longer compiles; it is not applied", version.number)
    return Rulebook(lists=lists, active=sets.get("active"), shadow=sets.get("shadow"), generation=generation)
