"""Rules and lists: the language, list kinds, expiry, scope, priority, /score, versions, backtests."""
from __future__ import annotations

import math
import time
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from audit.models import AuditEntry
from rules import services
from rules.engine import Rulebook, build_list, compile_set
from rules.language import RuleSyntaxError, Vocabulary, parse
from rules.models import EntityList, RuleSetVersion, ShadowHit
from tests.support.factories import event
from triage.models import Score

VOCAB = Vocabulary.default(lists=["bad", "ranges"])


def _one(source: str, values: dict, lists: dict | None = None) -> bool:
    condition = parse(source, VOCAB)
    lists = lists or {}
    return condition.hits(values.get, lambda name, v: v in lists.get(name, ()))


def _many(source: str, rows: list[dict], lists: dict | None = None) -> list[bool]:
    condition = parse(source, VOCAB)
    lists = lists or {}
    names = {k for row in rows for k in row}
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        if all(v is None or isinstance(v, (int, float)) for v in values):
            columns[name] = np.array([math.nan if v is None else float(v) for v in values])
        else:
            columns[name] = np.array(values, dtype=object)

    def member_many(name, values):
        return np.array([np.nan if v is None else float(v in lists.get(name, ())) for v in values])
    return condition.hits_many(columns, member_many, len(rows)).tolist()


# Each operator, each with a row it hits and a row it does not; the two compiled forms agree.
OPERATORS = [
    ("amount > 500", {"amount": 501}, {"amount": 500}),
    ("amount >= 500", {"amount": 500}, {"amount": 499.99}),
    ("amount < 10", {"amount": 9}, {"amount": 10}),
    ("amount <= 10", {"amount": 10}, {"amount": 11}),
    ("country == 'NG'", {"country": "NG"}, {"country": "ng"}),
    ('country != "NG"', {"country": "GB"}, {"country": "NG"}),
    ('country in ["NG", "RU"]', {"country": "RU"}, {"country": "GB"}),
    ('country not in ["NG", "RU"]', {"country": "GB"}, {"country": "NG"}),
    ("events_1h in [3, 4]", {"events_1h": 4}, {"events_1h": 5}),
    ('device_id in list "bad"', {"device_id": "d-9"}, {"device_id": "d-1"}),
    ('device_id not in list "bad"', {"device_id": "d-1"}, {"device_id": "d-9"}),
    ("merchant_id is null", {"amount": 1}, {"merchant_id": "m-1"}),
    ("merchant_id is not null", {"merchant_id": "m-1"}, {"amount": 1}),
    ("amount between 100 and 200", {"amount": 150}, {"amount": 201}),
    ("amount / amount_mean_30d > 3", {"amount": 400, "amount_mean_30d": 100}, {"amount": 200, "amount_mean_30d": 100}),
    ("amount * 2 - 10 + 1 == 991", {"amount": 500}, {"amount": 501}),
    ("-amount < -5", {"amount": 6}, {"amount": 4}),
    ("amount > 5 and country == 'NG'", {"amount": 6, "country": "NG"}, {"amount": 6, "country": "GB"}),
    ("amount > 5 or country == 'NG'", {"amount": 1, "country": "NG"}, {"amount": 1, "country": "GB"}),
    ("not amount > 5", {"amount": 1}, {"amount": 6}),
    ("device_is_new == true", {"device_is_new": 1.0}, {"device_is_new": 0.0}),
    ('attributes["browser"] == "headless"', {"attributes.browser": "headless"}, {"attributes.browser": "chrome"}),
    ('attributes["tries"] >= 3', {"attributes.tries": 3}, {"attributes.tries": "3"}),
    ("probability > 0.5 and risk_score >= 80 and model_tier == 'high'",
     {"probability": 0.6, "risk_score": 85, "model_tier": "high"}, {"probability": 0.6, "risk_score": 85, "model_tier": "medium"}),
    ("(amount > 5 or amount < 1) and not (country == 'GB')", {"amount": 0.5, "country": "DE"}, {"amount": 0.5, "country": "GB"}),
]


@pytest.mark.parametrize("source,hit,miss", OPERATORS)
def test_every_operator_hits_and_misses_the_same_in_both_compiled_forms(source, hit, miss):
    lists = {"bad": {"d-9"}}
    assert _one(source, hit, lists) is True
    assert _one(source, miss, lists) is False
    assert _many(source, [hit, miss], lists) == [True, False]


@pytest.mark.parametrize("source", [
    "amount > 500", "not amount > 500", "amount == amount", "country != 'NG'", "amount between 1 and 2",
    'device_id in list "bad"', 'device_id not in list "bad"', 'country not in ["NG"]', "not (amount > 5 and country == 'x')",
])
def test_a_missing_value_never_fires_a_rule(source):
    # Three-valued logic: unknown is not true, and "not unknown" is still unknown.
    assert _one(source, {}, {"bad": {"x"}}) is False
    assert _many(source, [{"events_1h": 1}], {"bad": {"x"}}) == [False]


def test_is_null_asks_for_absence_on_purpose():
    assert _one("amount is null or amount > 5", {}) is True


@pytest.mark.parametrize("source,message,position", [
    ("amount >", "stops too early", 8),
    ("amount > 500 && country == 'NG'", "unexpected character '&'", 13),
    ("event.amount > 5", "no attribute access", 5),
    ("len(country) > 2", "no function calls", 3),
    ('__import__("os").system("id")', "no function calls", 10),
    ("amount.__class__ == 1", "no attribute access", 6),
    ("amont > 5", "did you mean 'amount'", 0),
    ("country > 'A'", "texts are compared with == or !=", 10),
    ("amount > 'five'", "cannot be compared with a number", 0),
    ('country in ["NG", 3]', "a number among the values of a text", 18),
    ('device_id in list "nope"', "no list named 'nope'", 18),
    ("amount", "must be true or false", 0),
    ("amount > 5 and 3", "join conditions", 15),
    ("device_id['k'] == 'x'", "only attributes", 0),
    ("lambda: 1", "unexpected", 6),
    ("", "write a condition", 0),
])
def test_the_parser_refuses_what_is_not_the_language_and_says_where(source, message, position):
    with pytest.raises(RuleSyntaxError) as caught:
        parse(source, VOCAB)
    assert message in caught.value.message
    assert caught.value.position == position
    assert caught.value.pointer.splitlines()[1].index("^") == position


# --------------------------------------------------------------------------- lists

def test_ip_lists_match_addresses_and_cidr_ranges_of_both_versions():
    ips = build_list("ranges", "ip", "block", "", [("10.0.0.0/8", math.inf, ""), ("2001:db8::/32", math.inf, ""),
                                                   ("192.0.2.7", math.inf, "")])
    now = time.time()
    assert ips.find("10.200.3.4", now) == "10.0.0.0/8"
    assert ips.find("11.0.0.1", now) is None
    assert ips.find("2001:db8::1", now) == "2001:db8::/32"
    assert ips.find("192.0.2.7", now) == "192.0.2.7"
    assert ips.find("not-an-ip", now) is None
    assert ips.find_many(np.array(["10.1.1.1", None, "8.8.8.8"], dtype=object), now).tolist()[::2] == [1.0, 0.0]


def test_country_lists_ignore_case_and_entries_stop_acting_when_they_expire():
    now = time.time()
    countries = build_list("c", "country", "watch", "", [("NG", math.inf, ""), ("RU", now + 60, "")])
    assert countries.find("ng", now) == "NG"
    assert countries.find("RU", now) == "RU"
    assert countries.find("RU", now + 61) is None


@pytest.mark.django_db
def test_entry_values_are_checked_per_kind(manager):
    ips = services.list_create(name="proxies", kind="ip", purpose="block", actor=manager)
    with pytest.raises(services.RulesRefused, match="not an IP address or CIDR range"):
        services.entry_add(entity_list=ips, value="10.0.0.300", actor=manager)
    entry = services.entry_add(entity_list=ips, value="10.1.2.3/16", actor=manager)
    assert entry.value == "10.1.0.0/16"
    with pytest.raises(services.RulesRefused, match="in the past"):
        services.entry_add(entity_list=ips, value="10.9.9.9", expires_at="2001-01-01", actor=manager)
    with pytest.raises(services.RulesRefused, match="attribute"):
        services.list_create(name="domains", kind="attribute", purpose="watch", actor=manager)


@pytest.mark.django_db
def test_saving_an_entry_again_unchanged_logs_nothing_and_a_change_is_logged(manager, reviewer):
    devices = services.list_create(name="seen-devices", kind="device", purpose="watch", actor=manager)
    services.entry_add(entity_list=devices, value="dev-1", reason="chargeback", actor=manager)
    again = services.entry_add(entity_list=devices, value="dev-1", reason=" chargeback ", actor=reviewer)
    assert again.added_by == manager  # the unchanged save is nobody's new entry
    assert list(AuditEntry.objects.filter(action__startswith="list_entry").values_list("action", flat=True)) == ["list_entry_add"]
    services.entry_add(entity_list=devices, value="dev-1", reason="second chargeback", actor=reviewer)
    assert AuditEntry.objects.filter(action="list_entry_update").count() == 1


@pytest.mark.django_db
def test_csv_upload_stores_good_rows_and_reports_each_bad_one(manager):
    devices = services.list_create(name="bad-devices", kind="device", purpose="block", actor=manager)
    data = b"value,reason,expires_at\nd-1,chargebacks,\nd-2,,2099-01-01\n,no value,\nd-3,x,not a date\nd-1,again,\n"
    report = services.entries_import_csv(entity_list=devices, data=data, actor=manager)
    assert report["added"] == 2 and report["updated"] == 0
    assert [(r["line"], r["reason"]) for r in report["rejected"]] == [(4, "empty value"), (5, "'not a date' is not a date or time (2027-01-31 or 2027-01-31T12:00:00Z)")]
    assert dict(devices.entries.values_list("value", "reason")) == {"d-1": "again", "d-2": ""}
    csv_text = "".join(services.entries_csv(devices))
    assert csv_text.splitlines()[0] == "value,reason,expires_at" and "d-2,,2099-01-01T00:00:00+00:00" in csv_text
    again = services.entries_import_csv(entity_list=devices, data=csv_text.encode(), actor=manager)
    assert again["added"] == 0 and again["updated"] == 2 and not again["rejected"]
    assert AuditEntry.objects.filter(action="list_import").count() == 2


# --------------------------------------------------------------------------- rule sets

def _book(rules: list[dict], lists: dict | None = None, shadow: list[dict] | None = None) -> Rulebook:
    lists = lists or {}
    vocabulary = Vocabulary.default(lists=lists)
    return Rulebook(lists=lists, active=compile_set(1, rules, vocabulary),
                    shadow=compile_set(2, shadow, vocabulary) if shadow else None)


def _rule(name, condition, action, priority=100, clients=(), reason=""):
    return {"name": name, "condition": condition, "action": action, "priority": priority, "clients": list(clients),
            "reason": reason or name}


def test_the_first_deciding_rule_by_priority_sets_the_outcome_and_every_hit_is_reported():
    book = _book([
        _rule("big", "amount > 100", "review", priority=20),
        _rule("note", "amount > 50", "reason", priority=5, reason="amount above 50"),
        _rule("huge", "amount > 1000", "block", priority=10),
    ])
    outcome, _ = book.decide(client_id=1, event={"amount": 5000}, features={}, probability=0.01, risk_score=3, tier="low")
    assert outcome.action == "block" and outcome.tier == "high" and outcome.risk_score == 80
    assert [h.rule for h in outcome.hits] == ["note", "huge", "big"]
    assert outcome.stored()["model"] == {"tier": "low", "risk_score": 3}
    outcome, _ = book.decide(client_id=1, event={"amount": 60}, features={}, probability=0.6, risk_score=65, tier="medium")
    assert outcome.action is None and outcome.tier == "medium" and [h.reason for h in outcome.hits] == ["amount above 50"]


def test_allow_lists_come_before_block_lists_and_rules_and_close_the_case():
    lists = {"vip": build_list("vip", "account", "allow", "", [("acct-1", math.inf, "known customer")]),
             "bad": build_list("bad", "device", "block", "", [("dev-1", math.inf, "")])}
    book = _book([_rule("all", "amount > 0", "block", priority=0)], lists)
    outcome, _ = book.decide(client_id=1, event={"account_id": "acct-1", "device_id": "dev-1", "amount": 5}, features={},
                             probability=0.9, risk_score=95, tier="high")
    assert outcome.action == "allow" and outcome.tier == "low" and outcome.risk_score == 49 and outcome.closes_case
    assert outcome.hits[0].reason == "account acct-1 is on the allow list 'vip': known customer"
    assert [h.rule for h in outcome.hits] == ["list:vip", "list:bad", "all"]


def test_merchant_and_attribute_lists_act_on_their_own_field():
    lists = {"shady-merchants": build_list("shady-merchants", "merchant", "watch", "", [("m-7", math.inf, "")]),
             "throwaway-mail": build_list("throwaway-mail", "attribute", "block", "email_domain",
                                          [("mailinator.com", math.inf, "disposable address")])}
    book = _book([], lists)
    watched, _ = book.decide(client_id=1, event={"merchant_id": "m-7"}, features={}, probability=0.0, risk_score=1, tier="low")
    assert watched.action == "review" and watched.tier == "high"
    assert watched.hits[0].reason == "merchant m-7 is on the watch list 'shady-merchants'"
    blocked, _ = book.decide(client_id=1, event={"merchant_id": "m-1", "attributes": {"email_domain": "mailinator.com"}},
                             features={}, probability=0.0, risk_score=1, tier="low")
    assert blocked.action == "block"
    assert blocked.hits[0].reason == "email_domain attribute mailinator.com is on the block list 'throwaway-mail': disposable address"
    nothing, _ = book.decide(client_id=1, event={"merchant_id": "m-1", "attributes": {"email_domain": "example.com"}},
                             features={}, probability=0.0, risk_score=1, tier="low")
    assert nothing.action is None and not nothing.hits


def test_a_rule_scoped_to_some_clients_leaves_the_others_alone():
    book = _book([_rule("only-7", "amount > 0", "tier_medium", clients=[7])])
    hit, _ = book.decide(client_id=7, event={"amount": 1}, features={}, probability=0.0, risk_score=0, tier="low")
    miss, _ = book.decide(client_id=8, event={"amount": 1}, features={}, probability=0.0, risk_score=0, tier="low")
    assert hit.tier == "medium" and hit.risk_score == 50 and miss.tier == "low" and not miss.hits


def test_batches_decide_over_columns_as_single_events_do():
    lists = {"ranges": build_list("ranges", "ip", "watch", "", [("198.51.100.0/24", math.inf, "")])}
    rules = [_rule("night-big", "is_night == 1 and amount > 300", "tier_high", priority=1),
             _rule("scoped", 'country in ["NG"]', "block", priority=2, clients=[1]),
             _rule("attr", 'attributes["tries"] > 2', "review", priority=3)]
    book = _book(rules, lists, shadow=[_rule("shadow-any", "amount > 100", "block")])
    rng = np.random.default_rng(3)
    events = [{"amount": float(rng.integers(0, 600)), "country": rng.choice(["NG", "GB", ""]),
               "ip_address": rng.choice(["198.51.100.4", "203.0.113.1"]), "attributes": {"tries": int(rng.integers(0, 5))}}
              for _ in range(60)]
    features = [{"is_night": float(rng.integers(0, 2))} for _ in events]
    clients = [int(c) for c in rng.integers(1, 3, size=len(events))]
    args = dict(client_ids=clients, events=events, features=features, probability=[0.1] * 60, risk_score=[20] * 60, tier=["low"] * 60)
    many, shadow_many = book.decide_many(**args)
    one = [book.decide(client_id=c, event=e, features=f, probability=0.1, risk_score=20, tier="low")
           for c, e, f in zip(clients, events, features)]
    assert [o.stored() for o in many] == [o.stored() for o, _ in one]
    assert shadow_many == [s for _, s in one]
    assert any(o.action == "block" for o in many) and any(o.action == "review" for o in many)


# --------------------------------------------------------------------------- /score

@pytest.fixture
def active_rules(manager):
    def make(*rules, lists=()):
        for rule in rules:
            services.draft_rule_save(rule=rule, actor=manager)
        draft = RuleSetVersion.objects.get(status="draft")
        return services.version_activate(version=draft, actor=manager)
    return make


@pytest.mark.django_db
def test_score_returns_the_rule_hit_in_words_and_the_tier_it_sets(service, champion, active_rules, manager):
    active_rules(_rule("big-night-payment", "amount > 5000", "block", reason="payment above 5,000"))
    body = service.post("/score", event(amount=9000), format="json").json()
    assert body["action"] == "block" and body["tier"] == "high" and body["risk_score"] >= 80
    assert body["rules"] == [{"rule": "big-night-payment", "action": "block", "reason": "payment above 5,000"}]
    stored = Score.objects.get(transaction__event_id="evt-1")
    assert stored.tier == "high" and stored.rules["version"] == 1
    retry = service.post("/score", event(amount=9000), format="json").json()
    assert retry["duplicate"] is True and retry["action"] == "block" and retry["rules"] == body["rules"]
    quiet = service.post("/score", event(event_id="evt-2", amount=10), format="json").json()
    assert quiet["action"] is None and quiet["rules"] == []


@pytest.mark.django_db
def test_a_device_on_a_block_list_is_blocked_and_an_expired_entry_no_longer_is(service, champion, manager):
    devices = services.list_create(name="stolen-phones", kind="device", purpose="block", actor=manager)
    services.entry_add(entity_list=devices, value="dev-1", reason="reported stolen", actor=manager)
    body = service.post("/score", event(), format="json").json()
    assert body["action"] == "block" and body["tier"] == "high"
    assert body["rules"][0]["reason"] == "device dev-1 is on the block list 'stolen-phones': reported stolen"
    devices.entries.update(expires_at=timezone.now() - timedelta(seconds=1))
    services.entry_add(entity_list=devices, value="dev-other", actor=manager)  # any change reloads the lists
    assert service.post("/score", event(event_id="evt-2"), format="json").json()["action"] is None


@pytest.mark.django_db
def test_an_allow_list_closes_the_case_without_a_label(service, champion, manager):
    vip = services.list_create(name="vip", kind="account", purpose="allow", actor=manager)
    services.entry_add(entity_list=vip, value="acct-1", actor=manager)
    body = service.post("/score", event(amount=9000), format="json").json()
    assert body["action"] == "allow" and body["tier"] == "low"
    stored = Score.objects.select_related("transaction").get(transaction__event_id="evt-1")
    assert stored.review_status == "cleared" and stored.transaction.is_fraud is None


@pytest.mark.django_db
def test_a_batch_is_decided_like_single_events(service, champion, active_rules):
    active_rules(_rule("gb-big", "country == 'GB' and amount > 100", "tier_medium"))
    batch = [event(event_id=f"b-{i}", account_id=f"acct-{i % 7}", country="GB" if i % 2 else "DE", amount=50 + 10 * i,
                   timestamp=f"2026-11-20T10:{i:02d}:00Z") for i in range(30)]
    results = service.post("/score", batch, format="json").json()["results"]
    for sent, got in zip(batch, results):
        expected = sent["country"] == "GB" and sent["amount"] > 100
        assert (got["rules"] != []) is expected
        if expected:
            assert got["tier"] == "medium" and 50 <= got["risk_score"] <= 79


@pytest.mark.django_db
def test_shadow_rules_store_would_be_hits_without_acting(service, champion, manager):
    services.draft_rule_save(rule=_rule("any-payment", "amount > 0", "block"), actor=manager)
    shadow = services.version_shadow(version=RuleSetVersion.objects.get(status="draft"), actor=manager)
    body = service.post("/score", event(), format="json").json()
    assert body["action"] is None and body["rules"] == []
    hit = ShadowHit.objects.get()
    assert hit.version == shadow and hit.rule == "any-payment" and hit.transaction.event_id == "evt-1"


@pytest.mark.django_db
def test_activation_and_rollback_are_audited_and_rollback_restores_the_previous_version(service, champion, active_rules, manager):
    first = active_rules(_rule("v1", "amount > 100", "tier_medium"))
    services.draft_rule_delete(name="v1", actor=manager)
    services.draft_rule_save(rule=_rule("v2", "amount > 100", "block"), actor=manager)
    second = services.version_activate(version=RuleSetVersion.objects.get(status="draft"), actor=manager)
    assert service.post("/score", event(amount=500), format="json").json()["action"] == "block"
    restored = services.version_rollback(actor=manager)
    assert restored == first and RuleSetVersion.objects.get(pk=second.pk).status == "retired"
    assert service.post("/score", event(event_id="evt-2", amount=500), format="json").json()["action"] == "tier_medium"
    actions = list(AuditEntry.objects.filter(object_type="rule_set").values_list("action", flat=True))
    assert {"rules_activate", "rules_rollback", "rules_edit"} <= set(actions)
    with pytest.raises(services.RulesRefused, match="no earlier active version"):
        services.version_rollback(actor=manager)


@pytest.mark.django_db
def test_a_list_named_by_a_rule_cannot_be_deleted(manager, active_rules):
    bad = services.list_create(name="bad", kind="device", purpose="reference", actor=manager)
    active_rules(_rule("r", 'device_id in list "bad"', "review"))
    with pytest.raises(services.RulesRefused, match="name this list"):
        services.list_delete(entity_list=bad, actor=manager)
    assert EntityList.objects.filter(name="bad").exists()


@pytest.mark.django_db
def test_a_rule_with_a_syntax_error_is_refused_with_its_position(manager):
    with pytest.raises(services.RulesRefused) as caught:
        services.draft_rule_save(rule=_rule("r", "amount >> 5", "block"), actor=manager)
    assert caught.value.field == "condition" and caught.value.position == 8
    assert not RuleSetVersion.objects.exists()  # nothing half-written


@pytest.mark.django_db(transaction=True)
def test_a_change_made_elsewhere_is_loaded_in_the_background_while_the_old_rules_go_on(settings, manager):
    from rules import engine
    from rules.models import RulesGeneration

    settings.RULES_REFRESH_SECONDS = 0
    assert engine.rulebook().empty
    # Another web process adds a block list: only the count of changes tells this one.
    EntityList.objects.create(name="elsewhere", kind="device", purpose="block")
    EntityList.objects.get(name="elsewhere").entries.create(value="dev-x")
    RulesGeneration.objects.update_or_create(pk=1, defaults={"generation": 99})
    first = engine.rulebook()  # answers at once with what it had, and starts the reload
    assert first.empty
    deadline = time.monotonic() + 10
    while engine.rulebook().generation != 99 and time.monotonic() < deadline:
        time.sleep(0.05)
    book = engine.rulebook()
    assert book.generation == 99 and "elsewhere" in book.lists and not book.empty


@pytest.mark.django_db
def test_a_backtest_asked_with_a_bad_period_is_refused_with_the_field_and_nothing_stored(client, manager):
    from rules.models import BacktestRun

    services.draft_rule_save(rule=_rule("r", "amount > 1", "review"), actor=manager)
    client.force_login(manager)
    number = RuleSetVersion.objects.get(status="draft").number
    bad_date = client.post(f"/rules/versions/{number}/backtest/", {"start": "30/11/2026", "end": "2026-12-01"})
    assert bad_date.status_code == 400 and "Backtest: start a date like 2026-11-30" in bad_date.content.decode()
    backwards = client.post(f"/rules/versions/{number}/backtest/", {"start": "2026-12-05", "end": "2026-12-01"})
    assert backwards.status_code == 400 and "must be after the start" in backwards.content.decode()
    assert not BacktestRun.objects.exists()
