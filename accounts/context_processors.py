from __future__ import annotations

from django.http import HttpRequest

from accounts.roles import MANAGER, REVIEWER, user_has_role


def roles(request: HttpRequest) -> dict[str, bool]:
    user = getattr(request, "user", None)
    if user is None:
        return {"is_reviewer": False, "is_manager": False}
    return {"is_reviewer": user_has_role(user, REVIEWER), "is_manager": user_has_role(user, MANAGER)}
