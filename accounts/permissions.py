"""Role checks: a decorator for pages, permission classes for DRF views used by people."""
from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from rest_framework import permissions

from accounts.roles import MANAGER, REVIEWER, user_has_role


class IsReviewer(permissions.BasePermission):
    message = "this needs the reviewer role"

    def has_permission(self, request, view) -> bool:
        return user_has_role(request.user, REVIEWER)


class IsManager(permissions.BasePermission):
    message = "this needs the manager role"

    def has_permission(self, request, view) -> bool:
        return user_has_role(request.user, MANAGER)


def role_required(role: str):
    """A page for signed-in people with `role`: others are sent to log in, or refused (403)."""
    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not user_has_role(request.user, role):
                raise PermissionDenied(f"this page needs the {role} role")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
