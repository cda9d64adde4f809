"""The delivery log page (managers only)."""
from __future__ import annotations

from django.shortcuts import render

from accounts.permissions import role_required
from accounts.roles import MANAGER
from webhooks.models import WebhookDelivery
from webhooks.selectors import delivery_list


@role_required(MANAGER)
def delivery_log(request):
    status = request.GET.get("status") or None
    if status not in WebhookDelivery.Status.values:
        status = None
    return render(request, "webhooks/deliveries.html", {
        "deliveries": delivery_list(status=status, limit=200),
        "status": status,
        "statuses": WebhookDelivery.Status.choices,
    })
