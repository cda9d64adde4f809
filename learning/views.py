"""The models page for managers; its data comes from the model API."""
from __future__ import annotations

from django.shortcuts import render

from accounts.roles import MANAGER
from accounts.permissions import role_required


@role_required(MANAGER)
def models_page(request):
    return render(request, "learning/models.html")
