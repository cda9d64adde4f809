"""Role checks for DRF views used by people."""
from __future__ import annotations

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
