"""Write the audit trail: one entry per staff change, inside its transaction."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import Model

from accounts.models import User

from ..models import Account, AuditEntry


def record_audit(
    *,
    action: str,
    actor: User | None,
    target: Model,
    at: datetime,
    account: Account | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str = "",
) -> AuditEntry:
    """Record who changed ``target``, when, from what to what, and why.

    Call it inside the transaction that makes the change, so the two commit
    together or not at all; outside one it refuses. ``actor`` None is the
    system.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("record_audit runs inside the change's transaction.")
    if at.tzinfo is None:
        raise ValueError("An audit instant is an aware datetime.")
    opts = target._meta
    return AuditEntry.objects.create(
        at=at.astimezone(UTC),
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        target_type=opts.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:200],
        account=account,
        before=dict(before) if before is not None else None,
        after=dict(after) if after is not None else None,
        reason=reason.strip(),
    )
