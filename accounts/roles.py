"""Roles are Django groups. A manager can do what a reviewer can; an admin what a manager can."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

REVIEWER = "reviewer"
MANAGER = "manager"
ADMIN = "admin"
ALL_ROLES = (REVIEWER, MANAGER, ADMIN)

# Which groups grant each role: higher roles include the lower ones.
_GRANTED_BY = {
    REVIEWER: {REVIEWER, MANAGER, ADMIN},
    MANAGER: {MANAGER, ADMIN},
    ADMIN: {ADMIN},
}


def user_roles(user: AbstractBaseUser | AnonymousUser) -> set[str]:
    if not user.is_authenticated or not user.is_active:
        return set()
    cached = getattr(user, "_role_cache", None)
    if cached is None:
        groups = set(user.groups.values_list("name", flat=True))
        if user.is_superuser:
            groups.add(ADMIN)
        cached = {role for role, granting in _GRANTED_BY.items() if groups & granting}
        user._role_cache = cached
    return cached


def user_has_role(user: AbstractBaseUser | AnonymousUser, role: str) -> bool:
    return role in user_roles(user)
