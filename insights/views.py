"""The managers' dashboard page; it draws itself from the insights API."""
from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Max
from django.shortcuts import render
from django.utils import timezone

from accounts.permissions import role_required
from accounts.roles import MANAGER
from insights.models import AccountRisk

log = logging.getLogger(__name__)
ACCOUNT_RISK_MAX_AGE = timedelta(minutes=15)


def _request_fresh_numbers() -> None:
    """Opening the dashboard asks for any pending rollup work (queued to a worker, or run
    here when there is no broker, as in the demo), and for account risk when it is stale."""
    from insights.tasks import refresh_account_risk, refresh_rollups

    try:
        refresh_rollups.delay()
        refreshed = AccountRisk.objects.aggregate(at=Max("refreshed_at"))["at"]
        if refreshed is None or timezone.now() - refreshed > ACCOUNT_RISK_MAX_AGE:
            refresh_account_risk.delay()
    except Exception as exc:  # broker down: the periodic jobs catch up
        log.warning("could not request a dashboard refresh: %s", exc)


@role_required(MANAGER)
def dashboard(request):
    _request_fresh_numbers()
    return render(request, "insights/dashboard.html", {"default_tz": settings.DISPLAY_TIME_ZONE})
