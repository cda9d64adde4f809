"""Who may see the dashboards, how bad parameters are answered, and the commands."""
from __future__ import annotations

import csv

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from insights.models import HourlyRollup
from tests.support.insights_worlds import hand_counted_world

ENDPOINTS = (
    "/api/insights/trends", "/api/insights/heatmap", "/api/insights/roi", "/api/insights/model-health",
    "/api/insights/team", "/api/insights/accounts/segments", "/api/insights/offboarding", "/api/insights/offboarding.csv",
)


def logged_in(user):
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.parametrize("persona", ["reviewer", "outsider", None])
def test_only_managers_read_the_dashboards(persona, request):
    user = request.getfixturevalue(persona) if persona else None
    client = logged_in(user)
    for url in ENDPOINTS:
        assert client.get(url).status_code == 403, url
    assert client.post("/api/insights/roi/assumptions", {}, format="json").status_code == 403
    assert client.post("/api/insights/accounts/a/decision", {"decision": "kept"}, format="json").status_code == 403
    page = client.get("/dashboard/")
    assert page.status_code == (302 if user is None else 403)


def test_managers_and_admins_see_the_dashboard(manager, django_user_model):
    admin = django_user_model.objects.create_superuser("ada-admin", password="x" * 12)
    for user in (manager, admin):
        client = logged_in(user)
        page = client.get("/dashboard/")
        assert page.status_code == 200 and b'id="heatmap"' in page.content
        assert all(client.get(url).status_code == 200 for url in ENDPOINTS)


@pytest.mark.parametrize("params, field", [
    ({"tz": "Mars/Olympus"}, "tz"),
    ({"tz": "../../etc/passwd"}, "tz"),
    ({"period": "3w"}, "period"),
    ({"start": "2026-13-01"}, "start"),
    ({"start": "2026-11-10", "end": "2026-11-01"}, "start"),
    ({"end": "yesterday"}, "end"),
])
def test_bad_period_or_time_zone_is_a_400_naming_the_field(manager, params, field):
    for url in ("/api/insights/trends", "/api/insights/heatmap", "/api/insights/roi", "/api/insights/team"):
        response = logged_in(manager).get(url, params)
        assert response.status_code == 400, url
        assert response.json()["errors"][0]["field"] == field


def test_apis_are_in_the_openapi_schema(manager):
    schema = logged_in(manager).get("/api/schema/", {"format": "json"}).json()
    for path in ("/api/insights/trends", "/api/insights/heatmap", "/api/insights/roi", "/api/insights/model-health",
                 "/api/insights/team", "/api/insights/accounts/segments", "/api/insights/offboarding"):
        assert path in schema["paths"], path
    parameters = {p["name"] for p in schema["paths"]["/api/insights/trends"]["get"]["parameters"]}
    assert {"period", "tz", "start", "end"} <= parameters


def test_rebuild_rollups_command(api_client_and_key, capsys):
    hand_counted_world(api_client_and_key[0])
    call_command("rebuild_rollups", verbosity=0)
    assert sum(HourlyRollup.objects.values_list("events", flat=True)) == 5
    assert "hourly rollup rows" in capsys.readouterr().out


def test_offboarding_report_for_a_new_unlabeled_file(champion, tmp_path, capsys):
    from synthetic.generator import WorldConfig, generate_world, write_world

    world = generate_world(WorldConfig(accounts=120, days=10, unlabeled_days=3, drift_days=5, seed=5))
    source = write_world(world, tmp_path / "batch.csv")
    out = tmp_path / "offboarding.csv"
    call_command("offboarding_report", file=str(source), out=str(out), ignore_labels=True, all_accounts=True)
    printed = capsys.readouterr().out
    assert f"{len(world):,} events (0 with a known label)" in printed
    for segment in ("high", "medium", "low"):
        assert any(line.startswith(segment) for line in printed.splitlines())
    rows = list(csv.DictReader(out.open()))
    assert {r["account_id"] for r in rows} == set(world["account_id"])
    assert all(r["confirmed_frauds"] == "0" for r in rows)
    flagged = [r for r in rows if r["offboard"] == "True"]
    assert all(r["offboard_reasons"] for r in flagged)
    assert all(r["model_reasons"] for r in flagged)


def test_offboarding_report_refuses_a_missing_file(db, tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no such file"):
        call_command("offboarding_report", file=str(tmp_path / "nope.csv"))


def test_offboarding_report_for_stored_events_in_a_date_range(champion, api_client_and_key, tmp_path, capsys):
    hand_counted_world(api_client_and_key[0])
    out = tmp_path / "stored.csv"
    call_command("offboarding_report", stored=True, since="2026-11-16", until="2026-11-16", out=str(out))
    assert "3 events (2 with a known label), 1 accounts" in capsys.readouterr().out
    call_command("offboarding_report", stored=True, since="2026-11-16", out=str(out))
    rows = list(csv.DictReader(out.open()))
    # Three confirmed frauds in the range: repeat fraud qualifies the account.
    assert [r["account_id"] for r in rows] == ["acct-a"] and "3 confirmed frauds" in rows[0]["offboard_reasons"]
