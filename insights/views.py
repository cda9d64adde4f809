"""The managers' dashboard page; it draws itself from the insights API."""
from __future__ import annotations

from django.conf import settings
from django.shortcuts import render

from accounts.roles import MANAGER
from frontend.views import role_required


@role_required(MANAGER)
def dashboard(request):
    return render(request, "insights/dashboard.html", {"default_tz": settings.DISPLAY_TIME_ZONE})
