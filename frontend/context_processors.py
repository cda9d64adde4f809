from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def money(request: HttpRequest) -> dict[str, str]:
    """The currency every money figure on the pages is in."""
    return {"reporting_currency": settings.REPORTING_CURRENCY}
