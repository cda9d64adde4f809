"""A manager opens the dashboard, sees charts that agree with the API, and changes the period."""
from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect
from rest_framework.test import APIClient

from insights.accounts import account_risk_refresh
from insights.rollups import rollups_refresh
from tests.support.browser import SCREENSHOTS
from tests.support.factories import DEMO_PASSWORD
from tests.support.insights_worlds import lively_world


def api(manager, url, **params):
    client = APIClient()
    client.force_login(manager)
    response = client.get(url, params)
    assert response.status_code == 200
    return response.json()


def heatmap_in_page(page):
    return page.eval_on_selector_all(
        "#heatmap rect.heat-cell",
        "cells => cells.map(c => [+c.dataset.dow, +c.dataset.hour, +c.dataset.events, +c.dataset.fraud])",
    )


def assert_page_matches_api(page, manager, period):
    params = {"period": period, "tz": "Europe/Berlin"}
    heat = api(manager, "/api/insights/heatmap", **params)
    expected = sorted([c["day_of_week"], c["hour"], c["events"], c["fraud"]] for c in heat["cells"])
    assert sorted(heatmap_in_page(page)) == expected
    trends = api(manager, "/api/insights/trends", **params)
    for metric in ("events", "flagged", "confirmed_fraud"):
        for tier in ("high", "medium", "low"):
            total = sum(r[metric] for r in trends["series"] if r["tier"] == tier)
            line = page.locator(f"#trends path.line[data-metric={metric}][data-tier={tier}]")
            if total:
                assert float(line.get_attribute("data-total")) == pytest.approx(total)
            else:
                expect(line).to_have_count(0)
    roi = api(manager, "/api/insights/roi", **params)
    for key in ("money_stopped", "net_savings"):
        assert float(page.get_attribute(f"#roi-{key}", "data-value")) == pytest.approx(roi[key])
    expect(page.locator("#period-label")).to_have_text(f"{trends['period']['start']} to {trends['period']['end']} · Europe/Berlin")
    return trends


@pytest.mark.django_db(transaction=True)
def test_manager_reads_the_dashboard_and_changes_the_period(page, live_server, manager, reviewer, second_reviewer, api_client_and_key):
    # A month up to today: periods end today, not on the newest event.
    lively_world(api_client_and_key[0], [reviewer, second_reviewer], end=timezone.now())
    rollups_refresh(max_hours=5000)
    account_risk_refresh()

    page.goto(f"{live_server.url}/dashboard/?period=30d&tz=Europe/Berlin")
    page.fill("#id_username", manager.username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator(".dashboard[data-loaded]")).to_have_count(1)
    expect(page.locator("#heatmap rect.heat-cell")).to_have_count(168)
    month = assert_page_matches_api(page, manager, "30d")
    expect(page.locator("#precision g.row")).to_have_count(3)
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    expect(page.locator("#team-chart rect").first).to_be_visible()
    expect(page.locator("#offboarding tbody tr").first).to_be_visible()
    expect(page.locator("#tier-legend")).to_contain_text("▲ High")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)

    page.select_option("#period", "7d")
    expect(page.locator(".dashboard")).to_have_attribute("data-loaded", "period=7d&tz=Europe%2FBerlin")
    week = assert_page_matches_api(page, manager, "7d")
    assert week["totals"]["events"] < month["totals"]["events"]
    assert "period=7d" in page.url

    # A hover shows the cell's numbers as text.
    page.hover("#heatmap rect.heat-cell[data-dow='1'][data-hour='2']")
    expect(page.locator("#tooltip")).to_contain_text("Mon 02:00–03:00")
    assert page.console_errors == []


@pytest.mark.django_db(transaction=True)
def test_manager_offboards_an_account_from_the_list(page, live_server, manager, reviewer, second_reviewer, api_client_and_key):
    from audit.models import AuditEntry

    lively_world(api_client_and_key[0], [reviewer, second_reviewer], days=10)
    rollups_refresh(max_hours=5000)
    account_risk_refresh()
    page.goto(f"{live_server.url}/login/?next=/dashboard/")
    page.fill("#id_username", manager.username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    first = page.locator("#offboarding tbody tr").first
    expect(first).to_be_visible()
    account = first.get_attribute("data-account")
    first.locator("button.offboard").click()
    expect(page.locator("#status")).to_have_text(f"Off-boarded {account}.")
    expect(page.locator(f"#offboarding tbody tr[data-account='{account}']")).to_have_count(0)
    assert AuditEntry.objects.filter(action="account_offboarded", object_id=account).exists()
    assert page.console_errors == []
