"""POST /score: authentication, validation, idempotency, fallback, explanations."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.support.factories import DEMO_PASSWORD, event
from triage.models import Score, Transaction

pytestmark = pytest.mark.django_db


def test_score_returns_probability_score_tier_and_version(service, champion):
    response = service.post("/score", event(), format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert 0 <= body["probability"] <= 1
    assert 0 <= body["risk_score"] <= 100
    assert body["tier"] in {"low", "medium", "high"}
    assert body["model_version"] == champion.name
    assert body["duplicate"] is False
    stored = Score.objects.get(transaction__event_id="evt-1")
    assert stored.model_version_id == champion.pk
    assert stored.risk_score == body["risk_score"]


def test_explanation_is_ready_after_scoring_with_reasons(service, champion, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = service.post("/score", event(amount=9000), format="json")
    explanation = service.get(response.json()["explanation_url"]).json()
    assert explanation["status"] == "ready"
    reasons = explanation["explanation"]["reasons"]
    assert reasons and all(r["direction"] in {"raises", "lowers"} and r["text"] for r in reasons)


def test_missing_key_is_rejected():
    response = APIClient().post("/score", event(), format="json")
    assert response.status_code == 401


def test_unknown_key_is_rejected(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer ftw_not-a-real-key")
    assert client.post("/score", event(), format="json").status_code == 401


def test_revoked_key_is_rejected(service, api_client_and_key, champion):
    from accounts.services import api_client_revoke

    api_client_revoke(client=api_client_and_key[0])
    assert service.post("/score", event(), format="json").status_code == 401


def test_reviewer_session_cannot_score_without_key(reviewer, champion):
    client = APIClient()
    client.login(username=reviewer.username, password=DEMO_PASSWORD)
    assert client.post("/score", event(), format="json").status_code in (401, 403)
    assert not Transaction.objects.exists()


@pytest.mark.parametrize(
    "overrides, field, code",
    [
        ({"event_id": None}, "event_id", "required"),
        ({"timestamp": "yesterday"}, "timestamp", "invalid_timestamp"),
        ({"timestamp": "2026-11-20T10:00:00"}, "timestamp", "invalid_timestamp"),
        ({"amount": -5}, "amount", "negative"),
        ({"amount": "lots"}, "amount", "invalid_type"),
        ({"payment_status": "maybe"}, "payment_status", "invalid_choice"),
        ({"ip_address": "999.1.1.1"}, "ip_address", "invalid"),
        ({"latitude": 123}, "latitude", "out_of_range"),
        ({"colour": "red"}, "colour", "unknown_field"),
    ],
)
def test_invalid_field_answers_400_naming_it_and_stores_nothing(service, champion, overrides, field, code):
    response = service.post("/score", event(**overrides), format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {"field": field, "code": code} in [{"field": e["field"], "code": e["code"]} for e in errors]
    assert not Transaction.objects.exists()


def test_any_iso_offset_is_stored_as_the_same_instant(service, champion):
    # +17:30 is valid ISO 8601 but beyond what PostgreSQL accepts as an offset.
    response = service.post("/score", event(timestamp="2026-11-21T03:30:00+17:30"), format="json")
    assert response.status_code == 200, response.content
    stored = Transaction.objects.get(event_id="evt-1").timestamp
    assert stored.isoformat() == "2026-11-20T10:00:00+00:00"


def test_batch_with_one_bad_event_stores_nothing(service, champion):
    batch = [event(event_id="a"), event(event_id="b", amount=-1)]
    response = service.post("/score", batch, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "[1].amount"
    assert not Transaction.objects.exists()


def test_batch_scores_every_event_in_order(service, champion):
    batch = [event(event_id=f"e{i}", timestamp=f"2026-11-20T10:0{i}:00Z") for i in range(5)]
    response = service.post("/score", batch, format="json")
    assert response.status_code == 200
    assert [r["event_id"] for r in response.json()["results"]] == [f"e{i}" for i in range(5)]
    assert Transaction.objects.count() == 5
    # Later events of the batch see the earlier ones as history.
    last = Score.objects.get(transaction__event_id="e4")
    assert last.features["events_1h"] == 4


def test_oversized_batch_is_refused(service, settings, champion):
    settings.SCORE_MAX_BATCH = 3
    response = service.post("/score", [event(event_id=str(i)) for i in range(4)], format="json")
    assert response.status_code == 413
    assert not Transaction.objects.exists()


def test_non_json_body_is_refused(service, champion):
    response = service.post("/score", "event_id=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


def test_score_statements_are_planned_once_per_connection(service, champion):
    """The history read and the write run as server-side prepared statements, so PostgreSQL
    plans them once per connection instead of on every request (planning them costs more
    than running them). Django leaves psycopg's preparing off unless the settings turn it on."""
    from django.db import connection

    for n in range(3):
        assert service.post("/score", event(event_id=f"evt-p{n}"), format="json").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        prepared = cursor.fetchall()
    runs = {("history" if "CROSS JOIN LATERAL" in sql else "write" if "json_to_recordset" in sql else "other"): n
            for sql, n in prepared}
    assert runs.get("history") == 3 and runs.get("write") == 3, prepared


def test_same_event_posted_twice_is_stored_once_with_first_result(service, champion):
    first = service.post("/score", event(), format="json").json()
    second = service.post("/score", event(), format="json").json()  # a retry: the same body
    assert second["duplicate"] is True
    assert second["probability"] == first["probability"]
    assert Transaction.objects.count() == 1


def test_without_a_model_the_fallback_answers_and_says_so(service):
    response = service.post("/score", event(), format="json")
    assert response.status_code == 200
    assert response.json()["model_version"] == "fallback-rules-v1"
    assert Score.objects.get().explanation_status == "ready"


def test_corrupt_model_file_falls_back(service, champion):
    from pathlib import Path

    (Path(champion.bundle_path) / "model.txt").write_text("tree\nbroken")
    assert service.post("/score", event(), format="json").json()["model_version"] == "fallback-rules-v1"


def test_explanation_of_another_clients_event_is_not_found(service, champion, db):
    from accounts.services import api_client_create

    response = service.post("/score", event(), format="json")
    _, other_key = api_client_create(name="other")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_key}")
    assert other.get(response.json()["explanation_url"]).status_code == 404


def test_register_needs_enrollment_token(db, settings):
    settings.ENROLLMENT_TOKEN = "let-me-in"
    client = APIClient()
    assert client.post("/register", {"name": "checkout"}, format="json").status_code == 403
    response = client.post("/register", {"name": "checkout"}, format="json", HTTP_X_ENROLLMENT_TOKEN="let-me-in")
    assert response.status_code == 201
    key = response.json()["api_key"]
    from accounts.models import ApiClient

    stored = ApiClient.objects.get(name="checkout")
    assert key not in (stored.key_hash, stored.key_prefix)  # only a digest is kept
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.post("/score", event(), format="json").status_code == 200


def test_register_refuses_a_webhook_url_longer_than_stored_with_a_400(db, settings):
    settings.ENROLLMENT_TOKEN = "let-me-in"
    url = "https://hooks.example.com/" + "a" * 200
    response = APIClient().post("/register", {"name": "checkout", "webhook_url": url}, format="json",
                                HTTP_X_ENROLLMENT_TOKEN="let-me-in")
    assert response.status_code == 400 and "webhook_url" in response.content.decode()
    from accounts.models import ApiClient

    assert not ApiClient.objects.exists()


def test_malformed_json_is_a_400_not_a_500(service, champion):
    response = service.post("/score", '{"event_id": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body"


# --------------------------------------------------------------------------- what a sender gets wrong


def test_the_same_event_id_with_a_different_body_is_a_409_naming_the_fields(service, champion):
    assert service.post("/score", event(amount=120.5), format="json").status_code == 200
    response = service.post("/score", event(amount=99.0, device_id="dev-other"), format="json")
    assert response.status_code == 409
    assert {e["field"] for e in response.json()["errors"]} == {"amount", "device_id"}
    stored = Transaction.objects.get()
    assert str(stored.amount) == "120.50" and stored.device_id == "dev-1"
    # An exact retry is still answered with the first result.
    retry = service.post("/score", event(amount=120.5), format="json")
    assert retry.status_code == 200 and retry.json()["duplicate"] is True


def test_a_batch_reusing_a_stored_id_with_another_body_stores_nothing(service, champion):
    service.post("/score", event(event_id="first"), format="json")
    batch = [event(event_id="new-one", timestamp="2026-11-20T11:00:00Z"), event(event_id="first", amount=1.0)]
    response = service.post("/score", batch, format="json")
    assert response.status_code == 409
    assert [e["field"] for e in response.json()["errors"]] == ["[1].amount"]
    assert list(Transaction.objects.values_list("event_id", flat=True)) == ["first"]


def test_one_id_twice_in_a_batch_with_different_bodies_is_a_409(service, champion):
    batch = [event(event_id="twice"), event(event_id="twice", timestamp="2026-11-20T10:05:00Z")]
    response = service.post("/score", batch, format="json")
    assert response.status_code == 409
    assert [e["field"] for e in response.json()["errors"]] == ["[1].timestamp"]
    assert not Transaction.objects.exists()
    same_twice = service.post("/score", [event(event_id="twice"), event(event_id="twice")], format="json")
    assert same_twice.status_code == 200
    assert [r["duplicate"] for r in same_twice.json()["results"]] == [False, True]


@pytest.mark.parametrize("field", ["event_id", "account_id", "device_id"])
def test_a_numeric_id_is_refused_with_how_to_send_it(service, champion, field):
    response = service.post("/score", event(**{field: 123}), format="json")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == field and error["code"] == "invalid_type" and '"123"' in error["message"]


def test_event_types_outside_the_list_are_refused_unless_the_deployment_adds_them(service, champion, settings):
    response = service.post("/score", event(event_type="refund"), format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "event_type"
    settings.EVENT_TYPES = [*settings.EVENT_TYPES, "refund"]
    assert service.post("/score", event(event_type="refund"), format="json").status_code == 200


def test_an_unknown_currency_is_a_400_and_a_known_one_any_case_is_stored(service, champion):
    response = service.post("/score", event(currency="ABC"), format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "field": "currency", "code": "unknown_currency", "message": "is not an ISO 4217 currency code (e.g. USD, EUR, GBP)"}
    assert service.post("/score", event(currency="chf"), format="json").status_code == 200
    assert Transaction.objects.get().currency == "CHF"


@pytest.mark.parametrize("headers", [{}, {"HTTP_AUTHORIZATION": "Bearer ftw_not_a_key"}, {"HTTP_AUTHORIZATION": "Basic abc"}])
def test_credential_errors_name_the_authorization_header(db, headers):
    response = APIClient().post("/score", event(), format="json", **headers)
    assert response.status_code == 401
    assert response.json()["errors"][0]["field"] == "Authorization"


def test_session_apis_name_the_session_when_nobody_is_logged_in(db):
    response = APIClient().get("/api/queue")
    assert response.status_code in (401, 403)
    assert response.json()["errors"][0]["field"] == "session"


@pytest.mark.django_db
def test_the_answer_has_exactly_the_fields_the_api_schema_documents(service, champion):
    # The answer is rendered by hand for speed (scoring.apis.result_renderer); the schema
    # comes from ScoreResultSerializer. A field added to one and not the other fails here.
    from dataclasses import fields

    from scoring.serializers import ScoreResultSerializer
    from scoring.services import ScoredEvent

    documented = set(ScoreResultSerializer().fields)
    for body in (event(), [event(event_id="b1"), event(event_id="b2")]):
        answer = service.post("/score", body, format="json").json()
        for result in answer["results"] if isinstance(body, list) else [answer]:
            assert set(result) == documented
    stored = {f.name for f in fields(ScoredEvent)}
    assert documented - {"explanation_url", "action", "duplicate", "model_version"} <= stored | {"event_id"}
