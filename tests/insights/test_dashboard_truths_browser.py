"""A manager reads the dashboard over data older than the period, and follows a retraining on
the models page; both pages fit 1,440 px, show no NaN or undefined and log no errors."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from insights.accounts import account_risk_refresh
from insights.rollups import rollups_refresh
from tests.support.browser import SCREENSHOTS
from tests.support.factories import DEMO_PASSWORD
from tests.support.insights_worlds import lively_world
from triage.models import Score
from triage.services import decision_record

WIDTH = 1440


def _login(page, url, user):
    page.set_viewport_size({"width": WIDTH, "height": 900})
    page.goto(url)
    page.fill("#id_username", user.username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")


def _assert_reads_cleanly(page):
    body = page.inner_text("body")
    assert "NaN" not in body and "undefined" not in body
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"), page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth)"
        ".slice(0, 5).map(e => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"
        ".concat([document.documentElement.scrollWidth, document.body.scrollWidth, document.documentElement.clientWidth,"
        " [...document.querySelectorAll('*')].filter(e => e.scrollWidth - e.clientWidth > 10).map(e => `${e.tagName}#${e.id}.${e.className} ${e.scrollWidth - e.clientWidth} ${Math.round(e.getBoundingClientRect().right)}`)])")
    assert page.console_errors == []


@pytest.mark.django_db(transaction=True)
def test_dashboard_over_old_data_says_so_and_counts_todays_decisions(page, live_server, manager, reviewer, second_reviewer, api_client_and_key):
    # A month of history that ended 40 days ago (like the demo's generated world), then two
    # decisions made today on its open high cases.
    ended = timezone.now() - timedelta(days=40)
    lively_world(api_client_and_key[0], [reviewer, second_reviewer], end=ended)
    open_high = list(Score.objects.filter(review_status="open", tier="high").order_by("transaction_id")[:2])
    decision_record(transaction_id=open_high[0].transaction_id, reviewer=reviewer, verdict="flag", disposition="stolen_card")
    decision_record(transaction_id=open_high[1].transaction_id, reviewer=reviewer, verdict="clear", disposition="customer_confirmed")
    rollups_refresh(max_hours=5000)
    account_risk_refresh()
    newest = (ended - timedelta(seconds=1)).date().isoformat()

    _login(page, f"{live_server.url}/dashboard/?period=30d&tz=UTC", manager)
    dashboard = page.locator(".dashboard")
    expect(dashboard).to_have_attribute("data-loaded", "period=30d&tz=UTC")
    note = page.locator("#period-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text(re.compile(r"Newest event: \d{4}-\d\d-\d\d, older than this period"))
    assert dashboard.get_attribute("data-end") == timezone.now().date().isoformat()
    # Today's two decisions, on month-old events, on every panel alike.
    expect(page.locator("#team-decisions .value")).to_have_text("2")
    expect(page.locator("#roi-review_cost .basis")).to_contain_text("2 reviews")
    expect(page.locator("#precision g.row[data-tier=high] text.value")).to_contain_text("50.0% of 2")
    expect(page.locator("#team-oldest .basis")).to_contain_text("since its event on")
    expect(page.locator("#segment-meanings [data-segment=high] dd")).to_contain_text("confirmed fraud")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard-period.png"), full_page=True)
    _assert_reads_cleanly(page)

    # The way to the days that hold the data, kept in the address, and back.
    note.locator("button").click()
    expect(dashboard).to_have_attribute("data-loaded", re.compile(r"end=\d{4}-\d\d-\d\d"))
    assert "end=" in page.url
    expect(note).to_contain_text("not up to today")
    assert int(page.eval_on_selector_all("#heatmap rect.heat-cell", "cs => cs.reduce((n, c) => n + +c.dataset.events, 0)")) > 1000
    page.screenshot(path=str(SCREENSHOTS / "dashboard-newest.png"), full_page=True)
    _assert_reads_cleanly(page)
    assert newest <= dashboard.get_attribute("data-end") <= ended.date().isoformat()
    note.locator("button").click()
    expect(dashboard).to_have_attribute("data-loaded", "period=30d&tz=UTC")


LONG_REASON = (
    "not better by the required margin: average precision 0.6140 vs 0.6100 (+0.0040, needs +0.0100); "
    "Brier 0.0310 vs 0.0300; calibration error 0.0100 vs 0.0200 — "
    "a_very_long_identifier_without_spaces_" + "x" * 120
)


@pytest.mark.django_db(transaction=True)
def test_models_page_fits_and_follows_a_retraining_to_its_verdict(page, live_server, manager, champion, settings):
    from learning.lifecycle import model_version_register
    from learning.models import TrainingRun
    from tests.support.factories import trained_result
    settings.RETRAIN_MIN_AP_GAIN = 0.01
    challenger = model_version_register(result=trained_result())
    now = timezone.now()
    for i in range(3):
        TrainingRun.objects.create(trigger="schedule", status="kept", champion=champion, challenger=challenger,
                                   started_at=now - timedelta(days=i + 1, minutes=4), finished_at=now - timedelta(days=i + 1),
                                   reason=LONG_REASON, champion_metrics={"average_precision": 0.61, "brier": 0.03},
                                   challenger_metrics={"average_precision": 0.614, "brier": 0.031})
    running = TrainingRun.objects.create(trigger="manual", status="running", champion=champion,
                                         started_at=now - timedelta(seconds=30), requested_by=manager)

    _login(page, f"{live_server.url}/models/", manager)
    progress = page.locator("#run-progress")
    expect(progress).to_have_attribute("data-stage", "running")
    expect(progress).to_contain_text(f"Retraining run {running.pk}: running since")
    expect(page.locator("#retrain")).to_be_disabled()
    expect(page.locator("#runs tbody tr")).to_have_count(4)
    page.screenshot(path=str(SCREENSHOTS / "models-wrap.png"), full_page=True)
    _assert_reads_cleanly(page)

    # The run finishes: the page, polling, shows the verdict with the deciding metric and margin.
    TrainingRun.objects.filter(pk=running.pk).update(
        status="kept", challenger=challenger, finished_at=timezone.now(), reason=LONG_REASON,
        champion_metrics={"average_precision": 0.61, "brier": 0.030, "ece": 0.02},
        challenger_metrics={"average_precision": 0.614, "brier": 0.031, "ece": 0.01},
    )
    expect(progress).to_have_attribute("data-stage", "finished", timeout=10000)
    expect(progress).to_contain_text(f"kept the champion {champion.name}")
    expect(progress.locator(".deciding")).to_have_text(
        "Deciding metric: average precision, challenger +0.0040 against the champion; "
        "the rule needs a gain of at least +0.0100 — not met.")
    expect(progress.locator(".metrics")).to_contain_text("Challenger better on 2 of 3 metrics")
    expect(progress.locator(".reason-text")).to_contain_text("not better by the required margin")
    expect(page.locator("#retrain")).to_be_enabled()
    page.screenshot(path=str(SCREENSHOTS / "models-run.png"), full_page=True)
    _assert_reads_cleanly(page)
