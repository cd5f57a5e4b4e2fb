"""Capacity by hand and its effects: staff adjustments and revocations, and
what any change of capacity sets off (counters refolded, slots reconciled,
states evaluated after commit).
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import User

from ..errors import (
    InvalidRequest,
)
from ..models import (
    Account,
    AuditEntry,
    Grant,
    Meter,
)
from ..permissions import ADJUST_GRANT, check_staff_power
from ..units import period_of
from .alerts import request_quota_evaluation
from .audit import record_audit
from .counters import refold_counters_from
from .job_slots import DEFAULT_SUSPENSION_CAUSE, reconcile_job_slots
from .locks import lock_account


def apply_new_capacity(
    *,
    account: Account,
    meters: list[Meter],
    at: datetime,
    cause: str = DEFAULT_SUSPENSION_CAUSE,
) -> None:
    """Let changed capacity reach the caches: a top-up starting now covers
    this period's excess so far, one ending now stops burning (usage already
    recorded past this instant changes side); slots follow the new limit
    (``cause`` says what lowered it, for the slots it suspends). States,
    alerts and quota events follow after commit."""
    request_quota_evaluation(account_ids=[account.pk], at=at)
    for meter in meters:
        if meter.kind == Meter.Kind.COUNTER:
            # From the change's period up to today's: a change recorded in
            # the past (a backfill) moves every later period too.
            refold_counters_from(
                account=account,
                meter=meter,
                period=period_of(at),
                at=max(at, timezone.now()),
            )
        elif meter.kind == Meter.Kind.ALLOCATION:
            reconcile_job_slots(account=account, at=at, cause=cause)


def create_adjustment_grant(
    *,
    account: Account,
    meter: Meter,
    amount: int,
    reason: str,
    actor: User | None,
    expires_at: datetime | None = None,
    at: datetime | None = None,
) -> Grant:
    """Staff add capacity by hand (goodwill, correction), with a reason on record.

    Needs ``billing.adjust_grant``; the system passes None explicitly.
    """
    check_staff_power(actor=actor, permission=ADJUST_GRANT, allow_system=True)
    if amount <= 0:
        raise InvalidRequest("An adjustment adds a positive amount.")
    if not reason.strip():
        raise InvalidRequest("Say why: the reason is kept with the grant.")
    now = at or timezone.now()
    if expires_at is not None and expires_at <= now:
        raise InvalidRequest("The expiry must be in the future.")
    with transaction.atomic():
        account = lock_account(account)
        grant = Grant.objects.create(
            account=account,
            meter=meter,
            amount=amount,
            effective_at=now,
            expires_at=expires_at,
            source=Grant.Source.ADJUSTMENT,
            reason=reason.strip()[:200],
            created_by=actor if getattr(actor, "pk", None) else None,
            created_at=now,
        )
        apply_new_capacity(account=account, meters=[meter], at=now)
        record_audit(
            action=AuditEntry.Action.GRANT_ADJUSTED,
            actor=actor,
            target=grant,
            at=now,
            account=account,
            after={
                "meter": meter.code,
                "amount": amount,
                "effective_at": now,
                "expires_at": expires_at,
            },
            reason=grant.reason,
        )
    return grant


def revoke_grant(
    *,
    grant: Grant,
    actor: User | None,
    reason: str = "Revoked by staff",
    at: datetime | None = None,
) -> bool:
    """End a grant now. Idempotent; slots beyond the new limit are suspended.

    Needs ``billing.adjust_grant``; the system passes None explicitly. Only
    a revocation that ended the grant is recorded.
    """
    check_staff_power(actor=actor, permission=ADJUST_GRANT, allow_system=True)
    now = at or timezone.now()
    with transaction.atomic():
        account = lock_account(grant.account)
        ended = Grant.objects.filter(pk=grant.pk, revoked_at__isnull=True).update(
            revoked_at=now, reason=reason[:200]
        )
        if ended:
            apply_new_capacity(
                account=account,
                meters=[grant.meter],
                at=now,
                cause=f"staff ended {grant.label}",
            )
            record_audit(
                action=AuditEntry.Action.GRANT_REVOKED,
                actor=actor,
                target=grant,
                at=now,
                account=account,
                before={"revoked_at": None, "amount": grant.amount},
                after={"revoked_at": now, "amount": grant.amount},
                reason=reason,
            )
    return bool(ended)
