"""Pages for people. Each view checks the role it needs; data comes from the API."""
from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render

from accounts.roles import REVIEWER, user_has_role


def role_required(role: str):
    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not user_has_role(request.user, role):
                raise PermissionDenied(f"this page needs the {role} role")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def home(request):
    return redirect("queue")


@role_required(REVIEWER)
def queue(request):
    return render(request, "frontend/queue.html")
