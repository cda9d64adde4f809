"""Property-based fuzzing of /register and /score from the OpenAPI schema (bounded).

Schemathesis generates requests from the published schema, valid and invalid, and checks
each answer: never a 5xx, a documented status code and content type, and a body that
matches the documented response schema.
"""
from __future__ import annotations

import pytest
import schemathesis
from django.core.cache import cache
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis import checks

from config.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application).include(
    path_regex=r"^/(score|register)$"
)

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def fuzz_headers(api_client_and_key, champion, settings):
    # Requests go straight into the WSGI app inside the test's transaction: like Django's
    # test client, keep the request signals from closing the database connection.
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    settings.ENROLLMENT_TOKEN = "fuzz-enrollment-token"
    cache.clear()  # the registration limit counts per address; start from zero
    yield {"Authorization": f"Bearer {api_client_and_key[1]}", "X-Enrollment-Token": "fuzz-enrollment-token"}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@hypothesis_settings(
    max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_schema_holds_and_nothing_answers_5xx(case, fuzz_headers):
    case.call_and_validate(headers=fuzz_headers, checks=CHECKS)
