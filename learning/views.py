"""The models page for managers; its data comes from the model API."""
from __future__ import annotations

from django.shortcuts import render

from accounts.permissions import role_required
from accounts.roles import MANAGER


@role_required(MANAGER)
def models_page(request):
    return render(request, "learning/models.html")
