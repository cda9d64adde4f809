"""Bodies built to break the service get a 400 naming the field, and nothing is stored.

Each case here once answered 500 with nothing stored (a parser recursion, a float or
numeric overflow, a NUL that PostgreSQL refuses, a surrogate that cannot be encoded) or
stored something it should not have (a blank id, a 1 MB attribute name, year 1).
"""
from __future__ import annotations

import json

import pytest

from tests.support.factories import event, signed_in
from triage.models import Transaction

pytestmark = pytest.mark.django_db


def _post_raw(service, body: str):
    return service.post("/score", body, content_type="application/json")


def _fields(response) -> set[str]:
    return {e["field"] for e in response.json()["errors"]}


def _event_json(**raw_values: str) -> str:
    """An event whose named fields are spliced in as raw JSON text (numbers too big for json.dumps to write)."""
    body = json.dumps(event())
    return body[:-1] + "".join(f', "{name}": {text}' for name, text in raw_values.items()) + "}"


@pytest.mark.parametrize("batch", [False, True], ids=["one event", "in a batch"])
def test_json_nested_ten_thousand_deep_is_a_400(service, champion, batch):
    deep = "[" * 10_000 + "]" * 10_000
    body = _event_json(attributes=deep)
    response = _post_raw(service, f"[{body}]" if batch else body)
    assert response.status_code == 400
    assert _fields(response) == {"body"}
    assert "depth" in response.json()["errors"][0]["message"]
    assert not Transaction.objects.exists()


@pytest.mark.parametrize("field", ["amount", "latitude", "session_duration"])
def test_integer_too_large_for_a_float_is_a_400_naming_the_field(service, champion, field):
    response = _post_raw(service, _event_json(**{field: "1" + "0" * 400}))
    assert response.status_code == 400
    assert field in _fields(response)
    assert not Transaction.objects.exists()


@pytest.mark.parametrize("field", ["amount", "latitude", "session_duration"])
def test_huge_integer_within_a_double_is_refused_by_range(service, champion, field):
    response = service.post("/score", event(**{field: 10**30}), format="json")
    assert response.status_code == 400
    assert field in _fields(response)
    assert not Transaction.objects.exists()


def test_amount_that_rounds_up_to_the_limit_is_a_400(service, champion):
    response = service.post("/score", event(amount=999999999999.999), format="json")
    assert response.status_code == 400
    assert {"field": "amount", "code": "too_large"} in [{k: e[k] for k in ("field", "code")} for e in response.json()["errors"]]
    assert service.post("/score", event(amount=999999999999.99), format="json").status_code == 200


@pytest.mark.parametrize(
    "field, value",
    [
        ("timestamp", "0001-01-01T00:00:00Z"),
        ("timestamp", "9999-12-31T23:59:59Z"),
        ("timestamp", "1969-12-31T23:59:59Z"),
        ("account_created_at", "0001-01-01T00:00:00Z"),
    ],
)
def test_times_outside_the_accepted_range_are_a_400(service, champion, field, value):
    response = service.post("/score", event(**{field: value}), format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors[0]["field"] == field and "1970-01-01" in errors[0]["message"]
    assert not Transaction.objects.exists()


def test_times_at_the_edges_of_the_range_are_stored(service, champion):
    assert service.post("/score", event(timestamp="1970-01-01T00:00:00Z"), format="json").status_code == 200
    assert service.post("/score", event(event_id="late", timestamp="2099-12-31T23:59:59Z"), format="json").status_code == 200


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"device_id": "dev\u0000x"}, "device_id"),
        ({"event_id": "evt\u00001"}, "event_id"),
        ({"attributes": {"channel": "we\u0000b"}}, "attributes.channel"),
        ({"attributes": {"chan\u0000nel": "web"}}, "attributes"),
    ],
)
def test_nul_character_is_a_400_naming_the_field(service, champion, overrides, field):
    response = service.post("/score", event(**overrides), format="json")
    assert response.status_code == 400
    assert field in _fields(response)
    assert not Transaction.objects.exists()


@pytest.mark.parametrize(
    "raw, field",
    [('"merchant_id": "\\ud800"', "merchant_id"), ('"attributes": {"k": "\\udfff"}', "attributes.k"),
     ('"attributes": {"\\ud800": 1}', "attributes")],
)
def test_lone_surrogate_is_a_400_naming_the_field(service, champion, raw, field):
    body = json.dumps(event())[:-1] + ", " + raw + "}"
    response = _post_raw(service, body)
    assert response.status_code == 400
    assert field in _fields(response)
    assert not Transaction.objects.exists()


@pytest.mark.parametrize("number", [2**63, 2**64 - 1])
def test_attribute_integer_outside_64_bits_is_a_400(service, champion, number):
    response = _post_raw(service, json.dumps(event(attributes={"loyalty_points": number})))
    assert response.status_code == 400
    assert "attributes.loyalty_points" in _fields(response)
    assert not Transaction.objects.exists()


def test_attribute_integer_at_the_64_bit_limit_is_stored(service, champion):
    response = _post_raw(service, json.dumps(event(attributes={"loyalty_points": 2**63 - 1})))
    assert response.status_code == 200, response.content
    assert Transaction.objects.get().attributes["loyalty_points"] == 2**63 - 1


@pytest.mark.parametrize("blank", ["   ", "\t"])
def test_blank_ids_are_required_not_stored_empty(service, champion, blank):
    response = service.post("/score", event(event_id=blank), format="json")
    assert response.status_code == 400
    assert {"field": "event_id", "code": "required"} in [{k: e[k] for k in ("field", "code")} for e in response.json()["errors"]]
    assert not Transaction.objects.exists()


@pytest.mark.parametrize("key", ["k" * 65, "k" * 1_000_000, "   "])
def test_attribute_names_are_bounded_and_not_echoed(service, champion, key):
    response = service.post("/score", event(attributes={key: 1}), format="json")
    assert response.status_code == 400
    assert len(response.content) < 1_000
    assert "attributes" in _fields(response)
    assert not Transaction.objects.exists()


def test_unknown_field_with_a_huge_name_is_not_echoed(service, champion):
    response = _post_raw(service, json.dumps({**event(), "x" * 100_000: 1}))
    assert response.status_code == 400
    assert len(response.content) < 1_000


def test_chunked_body_without_length_is_a_411_not_a_missing_event_id(service, champion):
    response = service.post("/score", json.dumps(event()), content_type="application/json",
                            HTTP_TRANSFER_ENCODING="chunked", CONTENT_LENGTH="")
    assert response.status_code == 411
    assert response.json()["errors"][0]["field"] == "Content-Length"


@pytest.fixture
def session_as():
    return signed_in


@pytest.mark.parametrize(
    "url, person",
    [
        ("/api/queue?offset=9223372036854775808", "reviewer"),
        ("/api/queue?offset=1000001", "reviewer"),
        ("/api/insights/offboarding?offset=9223372036854775808", "manager"),
        ("/api/audit?page=100000000000000000000", "manager"),
    ],
)
def test_paging_parameters_are_bounded(session_as, request, url, person):
    response = session_as(request.getfixturevalue(person)).get(url)
    assert response.status_code == 400
    name = "page" if "page=" in url else "offset"
    assert name in _fields(response)


def test_a_hub_device_is_read_up_to_the_cap_not_whole(service, champion, api_client_and_key):
    """A device shared by thousands of accounts (a shop's terminal, an attacker's tool):
    live scoring reads its latest ENTITY_ROWS_CAP events of other accounts, not all."""
    from datetime import datetime, timedelta
    from datetime import timezone as dt_timezone

    from ml.features import ENTITY_ROWS_CAP
    from triage.models import Score

    start = datetime(2026, 11, 19, tzinfo=dt_timezone.utc)
    Transaction.objects.bulk_create([
        Transaction(client=api_client_and_key[0], event_id=f"hub-{i}", account_id=f"hub-acct-{i}",
                    timestamp=start + timedelta(seconds=20 * i), device_id="dev-hub", event_type="payment")
        for i in range(ENTITY_ROWS_CAP + 100)
    ])
    response = service.post("/score", event(event_id="at-the-hub", device_id="dev-hub"), format="json")
    assert response.status_code == 200
    features = Score.objects.get(transaction__event_id="at-the-hub").features
    assert features["accounts_on_device_30d"] == ENTITY_ROWS_CAP


def test_a_hub_device_read_walks_its_newest_entries_and_stops_at_the_cap(api_client_and_key):
    """The plan /score's prepared context statement runs with, on a table where a hub
    device holds most rows: an ordered walk of the (device, time) index that stops at the
    cap. A plan made for the hub's value may instead fetch every one of its index entries
    and sort them (a bitmap scan), which is what made hub requests slow."""
    import re
    from datetime import datetime, timedelta
    from datetime import timezone as dt_timezone

    from django.db import connection

    from ml.features import ENTITY_ROWS_CAP
    from scoring import selectors

    start = datetime(2026, 11, 1, tzinfo=dt_timezone.utc)
    Transaction.objects.bulk_create([
        Transaction(client=api_client_and_key[0], event_id=f"hub-{i}", account_id=f"hub-acct-{i % 500}",
                    timestamp=start + timedelta(seconds=60 * i), device_id="dev-hub" if i % 4 else f"dev-{i}",
                    event_type="payment")
        for i in range(8000)
    ])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE triage_transaction")
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] == "force_generic_plan"
    at = start + timedelta(days=5)
    params = selectors._context_params(
        [{"account_id": "someone-new", "timestamp": at, "device_id": "dev-hub", "ip_address": "", "merchant_id": ""}],
        with_link_groups=False)
    names: list[str] = []

    def placeholder(match):
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    sql = re.sub(r"%\((\w+)\)s", placeholder, selectors._CONTEXT_SQL)
    raw = connection.connection  # psycopg's own connection: server-side PREPARE, as /score runs it
    raw.execute(f"PREPARE hub_context AS {sql}")
    try:
        for _ in range(6):  # past the executions where PostgreSQL tries custom plans
            raw.execute(f"EXECUTE hub_context({', '.join(['%s'] * len(names))})", [params[n] for n in names])
        plan = "\n".join(row[0] for row in raw.execute(
            f"EXPLAIN (ANALYZE, COSTS OFF) EXECUTE hub_context({', '.join(['%s'] * len(names))})",
            [params[n] for n in names]).fetchall())
    finally:
        raw.execute("DEALLOCATE hub_context")
    device_part = plan[plan.index("txn_device_time") - 300: plan.index("txn_device_time") + 200]
    assert "Index Scan Backward using txn_device_time" in plan, plan
    assert "Bitmap Index Scan on txn_device_time" not in plan, plan
    assert f"rows={ENTITY_ROWS_CAP} " in device_part, device_part
