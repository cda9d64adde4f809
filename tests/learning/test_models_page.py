"""A manager sees versions and a drift banner on /models/, promotes, rolls back and acknowledges."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from audit.models import AuditEntry
from learning.lifecycle import model_version_register
from learning.models import DriftAlert, DriftCheck
from scoring.models import ModelVersion
from tests.support.browser import SCREENSHOTS
from tests.support.factories import DEMO_PASSWORD, trained_result


@pytest.mark.django_db(transaction=True)
def test_manager_promotes_rolls_back_and_acknowledges_drift(page, live_server, manager, champion):
    challenger = model_version_register(result=trained_result())
    now = timezone.now()
    check = DriftCheck.objects.create(
        model_version=champion, window_start=now - timedelta(hours=24), window_end=now, rows=900,
        psi={"amount": 0.31, "hour_of_day": 0.05}, score_psi=0.12, max_psi=0.31, threshold=0.2,
    )
    DriftAlert.objects.create(
        model_version=champion, check_run=check, drifted={"<b>amount</b>": 0.31}, max_psi=0.31, threshold=0.2
    )

    page.goto(f"{live_server.url}/models/")
    page.fill("#id_username", manager.username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    banner = page.locator("#drift-banner")
    expect(banner).to_contain_text(f"Drift on {champion.name}")
    expect(banner).to_contain_text("<b>amount</b> 0.31")  # data shown as text, not markup
    assert banner.locator("b").count() == 0
    rows = page.locator("#versions tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#drift-chart svg rect")).to_have_count(2)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "models.png"), full_page=True)

    page.locator("#versions tbody tr", has_text=challenger.name).locator("button.promote").click()
    expect(page.locator("#status")).to_contain_text(f"Promoting {challenger.name}: done")
    expect(page.locator("#versions tbody tr.version-champion")).to_contain_text(challenger.name)
    assert ModelVersion.objects.get(status="champion") == challenger

    page.click("#rollback")
    expect(page.locator("#status")).to_contain_text("Rolling back: done")
    expect(page.locator("#versions tbody tr.version-champion")).to_contain_text(champion.name)
    assert ModelVersion.objects.get(status="champion") == champion

    banner.locator("button").click()
    expect(banner).to_be_hidden()
    assert DriftAlert.objects.get().acknowledged_by == manager
    actions = set(AuditEntry.objects.filter(actor=manager).values_list("action", flat=True))
    assert {"model_promoted", "model_rolled_back", "drift_alert_acknowledged"} <= actions
    assert page.console_errors == []


@pytest.mark.django_db(transaction=True)
def test_manager_sees_the_live_tiers_and_recuts_them(page, live_server, manager, champion, api_client_and_key,  # noqa: F811
                                                      settings):
    import numpy as np

    from learning.models import TierAlert, TierCut
    from tests.support.cases import live_scores
    settings.REVIEWER_CAPACITY_PER_DAY = 10
    client, _ = api_client_and_key
    hour = timezone.now() - timedelta(hours=2)
    rng = np.random.default_rng(1)
    live_scores(client, champion, np.concatenate([rng.uniform(0.31, 0.99, 300), rng.uniform(0, 0.02, 300)]),
                 scored_at=hour)
    TierAlert.objects.create(model_version=champion, hour=hour.replace(minute=0, second=0, microsecond=0),
                             events=600, high=300, capacity_per_day=10)

    page.goto(f"{live_server.url}/models/")
    page.fill("#id_username", manager.username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    banner = page.locator("#tier-banner")
    expect(banner).to_contain_text("High tier over capacity")
    expect(banner).to_contain_text("300 of 600 live events were high")
    expect(page.locator("#tier-bands tbody tr")).to_have_count(3)
    expect(page.locator("#tier-summary")).to_contain_text("300 of 600 live events were high in the last 24 hours")
    expect(page.locator("#tier-chart svg g.series.high rect")).to_have_count(48)
    expect(page.locator("#recut-preview")).to_contain_text("600 scores")
    page.screenshot(path=str(SCREENSHOTS / "models-tiers.png"), full_page=True)

    page.click("#recut")
    expect(page.locator("#status")).to_contain_text("Re-cutting the tiers: done")
    expect(page.locator("#tier-cuts tbody tr")).to_have_count(1)
    expect(page.locator("#tier-cuts tbody tr")).to_contain_text(manager.username)
    expect(banner).to_be_hidden()
    cut = TierCut.objects.get()
    assert cut.made_by == manager and cut.after["high"] > cut.before["high"]
    assert AuditEntry.objects.filter(actor=manager, action="tiers_recut").exists()
    assert page.console_errors == []
