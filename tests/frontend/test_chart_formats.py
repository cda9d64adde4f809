"""What the charts draw, read as a newcomer reads them: counts never with a milli prefix or
in halves, times in UTC and 24-hour with the zone said, the queue's words and filters, and the
refusal, not-found and API docs pages in the app's layout. Headless Chromium, in a zone far
from UTC so a chart drawn in local time shows up."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.support.browser import SCREENSHOTS, log_in
from tests.support.factories import event
from triage.models import Score

pytestmark = pytest.mark.django_db(transaction=True)

MILLI = re.compile(r"\d(\.\d+)?[mµu]\b")
WHOLE = re.compile(r"^-?\d{1,3}(,\d{3})*$|^-?\d+(\.\d+)?[kMB]$")


@pytest.fixture
def far_page(page):  # noqa: F811
    """A page whose browser clock is in Los Angeles: times drawn in local time would be 8 hours off."""
    context = page.context.browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id="America/Los_Angeles")
    far = context.new_page()
    far.console_errors = []
    far.on("console", lambda m: far.console_errors.append(m.text) if m.type == "error" else None)
    far.on("pageerror", lambda e: far.console_errors.append(str(e)))
    yield far
    context.close()



def _ticks(page, selector):
    return [t.strip() for t in page.locator(f"{selector} .tick text").all_text_contents()]


def _assert_clean(page):
    body = page.locator("body").inner_text()
    assert "NaN" not in body and "undefined" not in body
    for tick in page.locator("svg .tick text").all_text_contents():
        assert not MILLI.search(tick), f"milli-prefixed tick {tick!r}"
        assert "NaN" not in tick and "undefined" not in tick
    assert page.console_errors == []


def _shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


# --------------------------------------------------------------------------- case timeline


def test_the_case_timeline_reads_utc_24_hour_and_spans_the_events(far_page, live_server, reviewer, service, champion):
    times = ["23:44:05", "23:46:30", "23:49:12", "23:51:54"]
    batch = [event(event_id=f"late-{i}", account_id="night-owl", amount=0.4 + i * 0.3, device_id="dev-1",
                   timestamp=f"2026-11-20T{t}Z") for i, t in enumerate(times)]
    service.post("/score", batch, format="json")
    case = Score.objects.get(transaction__event_id="late-3")
    log_in(far_page, live_server, reviewer, f"/cases/{case.pk}/")
    expect(far_page.locator("#timeline svg g.event")).to_have_count(4)

    ticks = _ticks(far_page, "#timeline svg .axis:first-of-type")
    assert ticks and all(re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", t) for t in ticks), ticks
    minutes = [int(t[:2]) * 60 + int(t[3:]) for t in ticks]
    assert all(23 * 60 + 40 <= m <= 23 * 60 + 56 for m in minutes), ticks  # UTC, not Los Angeles' 15:xx
    assert min(minutes) <= 23 * 60 + 46 and max(minutes) >= 23 * 60 + 50  # the ticks cover the span
    first, last = (far_page.locator(f"#timeline svg g.event >> nth={i}").get_attribute("transform") for i in (0, 3))
    left = float(re.search(r"translate\(([\d.]+)", first).group(1))
    right = float(re.search(r"translate\(([\d.]+)", last).group(1))
    assert 52 <= left < right <= 560 - 30  # inside the plot, first to last
    expect(far_page.locator("#timeline svg .time-caption")).to_contain_text("Nov 20 2026 (UTC)")
    amounts = _ticks(far_page, "#timeline svg .axis:nth-of-type(2)")
    assert amounts and not any(MILLI.search(t) for t in amounts), amounts
    far_page.keyboard.press("t")  # take the case: its hold shows its end in UTC
    expect(far_page.locator("#claim")).to_contain_text(re.compile(r"until ([01]\d|2[0-3]):[0-5]\d:[0-5]\d UTC"))
    expect(far_page.locator("#event-fields")).to_contain_text("2026-11-20 23:51:54 UTC")
    far_page.locator("#timeline").scroll_into_view_if_needed()
    far_page.locator("#timeline").screenshot(path=str(SCREENSHOTS / "case-timeline.png"))
    _shot(far_page, "case.png")
    _assert_clean(far_page)


def test_a_timeline_over_days_names_the_days(far_page, live_server, reviewer, service, champion):
    batch = [event(event_id=f"d-{i}", account_id="slow", amount=100.0 * (i + 1), timestamp=f"2026-11-{10 + 3 * i}T12:00:00Z")
             for i in range(4)]
    service.post("/score", batch, format="json")
    case = Score.objects.get(transaction__event_id="d-3")
    log_in(far_page, live_server, reviewer, f"/cases/{case.pk}/")
    expect(far_page.locator("#timeline svg g.event")).to_have_count(4)
    ticks = _ticks(far_page, "#timeline svg .axis:first-of-type")
    assert ticks and all(re.fullmatch(r"Nov \d\d( \d\d:\d\d)?", t) for t in ticks), ticks
    expect(far_page.locator("#timeline svg .time-caption")).to_contain_text("Nov 10 – Nov 19 2026 (UTC)")
    _assert_clean(far_page)


# --------------------------------------------------------------------------- dashboard and models


def test_dashboard_count_axes_are_whole_numbers_without_prefixes(page, live_server, manager, reviewer, api_client_and_key):
    from insights.accounts import account_risk_refresh
    from insights.rollups import rollups_refresh
    from tests.support.insights_worlds import hand_counted_world
    hand_counted_world(api_client_and_key[0])
    rollups_refresh(max_hours=5000)
    account_risk_refresh()
    log_in(page, live_server, manager, "/dashboard/?period=7d&tz=UTC&end=2026-11-17")  # the data's week
    expect(page.locator(".dashboard[data-loaded]")).to_have_count(1)
    for metric in ("events", "flagged", "confirmed_fraud"):
        ticks = _ticks(page, f"#trend-{metric} .axis.y")
        assert ticks and all(WHOLE.match(t) for t in ticks), (metric, ticks)
        assert len(set(ticks)) == len(ticks), (metric, ticks)
    money = _ticks(page, "#trend-money_at_risk .axis.y")
    assert money and all(re.fullmatch(r"[\d,]+(\.\d{1,2})?|[\d.]+[kMB]", t) for t in money), money
    days = _ticks(page, "#trend-events .axis.x")
    assert days and len(set(days)) == len(days) and all(re.fullmatch(r"[A-Z][a-z]{2} \d\d", d) for d in days), days
    team = _ticks(page, "#team-chart .axis.y")
    assert team and all(WHOLE.match(t) for t in team), team
    page.locator("#trends").screenshot(path=str(SCREENSHOTS / "dashboard-axes.png"))
    _shot(page, "dashboard-small.png")
    _assert_clean(page)


def test_models_page_tier_chart_counts_whole_events_by_utc_hour(page, live_server, manager, champion, api_client_and_key,  # noqa: F811
                                                                settings):
    from tests.support.cases import live_scores
    settings.REVIEWER_CAPACITY_PER_DAY = 10
    live_scores(api_client_and_key[0], champion, [0.99, 0.98], scored_at=timezone.now() - timedelta(hours=2))
    log_in(page, live_server, manager, "/models/")
    expect(page.locator("#tier-chart svg g.series.high rect")).to_have_count(48)
    ticks = _ticks(page, "#tier-chart .y-axis")
    assert ticks and all(WHOLE.match(t) for t in ticks), ticks
    hours = _ticks(page, "#tier-chart .x-axis")
    assert hours and all(re.fullmatch(r"([01]\d|2[0-3]):00", h) for h in hours), hours
    expect(page.locator("#tier-chart .time-caption")).to_have_text("hour (UTC)")
    page.locator("#tier-chart").screenshot(path=str(SCREENSHOTS / "models-tier-chart.png"))
    _assert_clean(page)


# --------------------------------------------------------------------------- queue


def test_queue_says_one_case_and_reset_clears_the_filters_from_the_address(page, live_server, reviewer, service, champion):
    service.post("/score", [event(event_id=f"q-{i}", account_id=f"acct-{i}", amount=900.0 + i) for i in range(3)], format="json")
    score = Score.objects.get(transaction__event_id="q-1")
    log_in(page, live_server, reviewer, f"/queue/?tier={score.tier}&account=acct-1&amount_min=5")
    expect(page.locator("#cases tbody tr")).to_have_count(1)
    expect(page.locator("#status")).to_have_text(f"Showing 1 {score.tier}-tier case that matches the filters.")
    assert page.input_value("input[name=account]") == "acct-1"
    _shot(page, "queue-one-case.png")

    page.click("#filters button[type=reset]")
    expect(page).to_have_url(re.compile(rf"/queue/\?tier={score.tier}$"))
    assert page.input_value("input[name=account]") == "" and page.input_value("input[name=amount_min]") == ""
    expect(page.locator("#cases tbody tr")).to_have_count(Score.objects.filter(tier=score.tier, review_status="open").count())
    page.reload()
    assert page.input_value("input[name=account]") == ""
    expect(page.locator("#status")).not_to_contain_text("match")

    # Filters typed in and applied leave the address the same way.
    page.fill("input[name=account]", "acct-2")
    page.click("#filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"account=acct-2"))
    page.click("#filters button[type=reset]")
    expect(page).to_have_url(re.compile(rf"/queue/\?tier={score.tier}$"))
    _assert_clean(page)


# --------------------------------------------------------------------------- edges


def test_refusal_not_found_and_api_docs_pages_draw_in_the_layout(page, live_server, reviewer, manager):
    log_in(page, live_server, reviewer, "/audit/")
    expect(page.locator("h1")).to_have_text("You are not allowed to see this page")
    expect(page.locator("header.topbar nav a", has_text="Queue")).to_be_visible()
    page.wait_for_load_state("networkidle")
    _shot(page, "403.png")
    page.click("a.back")
    expect(page).to_have_url(re.compile(r"/queue/"))

    page.goto(f"{live_server.url}/no-such-page/")
    expect(page.locator("h1")).to_have_text("There is nothing at this address")
    _shot(page, "404.png")
    # The browser logs the pages' own 403 and 404 statuses; those are what this test asks for.
    page.console_errors[:] = [e for e in page.console_errors if not re.search(r"status of 40[34]", e)]
    _assert_clean(page)

    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_be_visible(timeout=15_000)
    back = page.locator("header.app-bar a.back")
    expect(back).to_have_text("← Back to the workbench")
    page.screenshot(path=str(SCREENSHOTS / "api-docs.png"))
    back.click()
    expect(page).to_have_url(re.compile(r"/queue/"))

    page.click("form.logout button")
    log_in(page, live_server, manager, "/dashboard/")
    link = page.locator("header.topbar nav a", has_text="Webhooks")
    expect(link).to_be_visible()
    link.click()
    expect(page).to_have_url(re.compile(r"/webhooks/$"))
    _shot(page, "webhooks.png")


def test_score_distribution_leaves_the_days_without_scores_between_days_with_them(page, live_server, manager, api_client_and_key):
    """Scores on Oct 13 and on Nov 23 only: the six weeks between are empty columns, not
    nothing (the two days drawn side by side read as consecutive)."""
    from datetime import datetime
    from datetime import timezone as dt_timezone

    from insights.rollups import rollups_refresh
    from triage.models import Transaction

    for i, day in enumerate((datetime(2026, 10, 13, 12, tzinfo=dt_timezone.utc), datetime(2026, 11, 23, 12, tzinfo=dt_timezone.utc))):
        txn = Transaction.objects.create(client=api_client_and_key[0], event_id=f"far-{i}", account_id=f"acct-{i}",
                                         timestamp=day, event_type="payment", amount=40, currency="USD")
        Score.objects.create(transaction=txn, probability=0.5, risk_score=55, tier="medium", expected_loss=20,
                             model_version_name="v-test", features={})
    rollups_refresh(max_hours=5000)
    log_in(page, live_server, manager, "/dashboard/?period=90d&tz=UTC&end=2026-11-23")
    expect(page.locator(".dashboard[data-loaded]")).to_have_count(1)
    cells = page.locator("#score-distribution rect.band")
    xs = sorted({float(x) for x in cells.evaluate_all("(rects) => rects.map((r) => r.getAttribute('x'))")})
    column = float(cells.first.get_attribute("width"))
    assert len(xs) == 2
    assert round((xs[1] - xs[0]) / column) == 41, (xs, column)  # Oct 13 to Nov 23: 41 columns apart
    _shot(page, "dashboard-score-gap.png")
    _assert_clean(page)
