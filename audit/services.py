"""Writing the audit log."""
from __future__ import annotations

from typing import Any

from audit.models import AuditEntry


def _unchanged_save(detail: dict) -> bool:
    """A detail that is only a before/after pair records a save; equal halves mean it changed
    nothing. Other keys mean the action did more than that save (a tier re-cut also re-tiers
    open cases and settles alerts), so such entries are never dropped."""
    return set(detail) == {"before", "after"} and detail["before"] == detail["after"]


def audit_record(
    *, actor: Any, action: str, object_type: str = "", object_id: str = "", detail: dict | None = None, client: Any = None
) -> AuditEntry | None:
    """Append an entry to the audit log; None when the detail says a save changed nothing.

    Entries of things done rather than changed (decisions, claims, logins) are always written;
    a save whose before equals its after would read in the log as a change nobody made.
    """
    if detail and _unchanged_save(detail):
        return None
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        actor=user, actor_client=client, action=action, object_type=object_type, object_id=object_id, detail=detail or {}
    )
