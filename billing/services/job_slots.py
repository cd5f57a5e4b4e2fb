"""Allocate and release job slots; suspend and restore them as capacity changes."""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from ..errors import NotFound, QuotaExceeded
from ..models import Account, Alert, EventType, JobSlot, Meter, QuotaNotice
from ..quotas.hot import slot_facts
from ..selectors import job_slot_limit
from ..units import period_of
from .alerts import (
    AlertSpec,
    UsageRow,
    raise_alerts,
    request_alert_evaluation,
    request_quota_evaluation,
)
from .locks import lock_account, lock_account_row
from .webhook_events import record_events, slot_event

_NOTICE = QuotaNotice._meta.db_table
_METER = Meter._meta.db_table


@dataclass(frozen=True, slots=True)
class SlotAllocation:
    slot: JobSlot
    created: bool  # False when this job_ref already held a slot
    used: int  # active slots after the call, counted under the lock
    limit: int


@dataclass(frozen=True, slots=True)
class SlotReconciliation:
    suspended: list[str]
    reactivated: list[str]
    active: int = 0  # active slots afterwards


def allocate_job_slot(
    *, account: Account, job_ref: str, at: datetime | None = None
) -> SlotAllocation:
    """Hold an active slot for job_ref, never beyond the account's limit.

    Calls for one account queue on its row lock, so the count read under it
    cannot go stale before the insert; the partial unique index on held
    job_refs is the database backstop. Under the lock: one read (limit,
    counts, this job's slot) and the insert. Suspended jobs get capacity
    back before new ones; alerts are evaluated after commit.
    """
    at = at or timezone.now()
    with transaction.atomic():
        lock_account_row(account_id=account.pk)
        facts = slot_facts(
            account_id=account.pk, plan_id=account.plan_id, job_ref=job_ref, at=at
        )
        limit, used = facts.limit, facts.active
        if facts.suspended and used != limit:
            used = reconcile_job_slots(account=account, limit=limit, at=at).active
        if facts.held_id is not None:
            slot = JobSlot.objects.get(pk=facts.held_id)
            return SlotAllocation(slot=slot, created=False, used=used, limit=limit)
        if used >= limit:
            raise QuotaExceeded(meter="job_slots", used=used, limit=limit)
        slot = _insert_slot(account_id=account.pk, job_ref=job_ref, at=at)
        request_alert_evaluation(
            rows=[
                UsageRow(
                    account_id=account.pk,
                    meter_id=facts.meter_id,
                    used=used + 1,
                    allowance=limit,
                    hard_blocked=False,
                    topped_up_or_consented=True,
                )
            ],
            at=at,
        )
    return SlotAllocation(slot=slot, created=True, used=used + 1, limit=limit)


def _insert_slot(*, account_id: int, job_ref: str, at: datetime) -> JobSlot:
    """One INSERT (the ORM would spend longer compiling it than running it)."""
    table = JobSlot._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (account_id, job_ref, status, allocated_at)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            [
                account_id,
                job_ref,
                JobSlot.Status.ACTIVE,
                connection.ops.adapt_datetimefield_value(at),
            ],
        )
        (pk,) = cursor.fetchone()
    return JobSlot(
        id=pk,
        account_id=account_id,
        job_ref=job_ref,
        status=JobSlot.Status.ACTIVE,
        allocated_at=at,
    )


def release_job_slot(
    *, account: Account, job_ref: str, at: datetime | None = None
) -> bool:
    """Release job_ref's slot. Idempotent: False when it was already released.

    The release itself is one conditional update (no transaction), which
    also says whether a suspended posting waits (only then is the account
    locked to give it the slot) and whether the platform was told the slots
    are over their limit (only then are states evaluated, after commit, for
    ``quota.resolved``). Raises NotFound when the job never held a slot on
    this account.
    """
    at = at or timezone.now()
    table = JobSlot._meta.db_table
    # One statement, atomic on its own: no transaction round trips.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s, released_at = %s"
            " WHERE account_id = %s AND job_ref = %s AND status IN (%s, %s)"
            f" RETURNING EXISTS (SELECT 1 FROM {table} WHERE account_id = %s"
            f" AND status = %s), EXISTS (SELECT 1 FROM {_NOTICE} n"
            f" JOIN {_METER} m ON m.id = n.meter_id WHERE n.account_id = %s"
            " AND n.over_limit AND m.code = 'job_slots')",
            [
                JobSlot.Status.RELEASED,
                connection.ops.adapt_datetimefield_value(at),
                account.pk,
                job_ref,
                JobSlot.Status.ACTIVE,
                JobSlot.Status.SUSPENDED,
                account.pk,
                JobSlot.Status.SUSPENDED,
                account.pk,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        if not account.job_slots.filter(job_ref=job_ref).exists():
            raise NotFound(f"Job {job_ref!r} never held a slot on this account.")
        return False
    if row[0]:
        # A posting waits for this slot. An allocation that runs first
        # reactivates it too (suspended postings come before new ones).
        with transaction.atomic():
            reconcile_job_slots(account=lock_account(account), at=at)
    if row[1]:
        request_quota_evaluation(account_ids=[account.pk], at=at)
    return True


def slot_meter_id() -> int:
    return Meter.objects.values_list("pk", flat=True).get(code="job_slots")


DEFAULT_SUSPENSION_CAUSE = "a slot pack ended"


def reconcile_job_slots(
    *,
    account: Account,
    at: datetime | None = None,
    limit: int | None = None,
    cause: str = DEFAULT_SUSPENSION_CAUSE,
) -> SlotReconciliation:
    """Match active slots to the limit: suspend the newest past it, restore the oldest.

    Callers hold the account lock (and may pass the limit they just read
    under it), and name what took capacity away (``cause``: a refund, a
    revocation, an expiry), which suspended slots keep so the customer is
    told the true reason. Raises a ``suspended`` alert when slots are taken
    away (one per period, as every alert). One counting query when nothing
    changes.
    """
    at = at or timezone.now()
    if limit is None:
        limit = job_slot_limit(account=account, at=at)
    counts = account.job_slots.aggregate(
        active=Count("pk", filter=Q(status=JobSlot.Status.ACTIVE)),
        suspended=Count("pk", filter=Q(status=JobSlot.Status.SUSPENDED)),
    )
    active = counts["active"]
    suspended: list[str] = []
    reactivated: list[str] = []
    if active > limit:
        excess = list(account.job_slots.active().order_by("allocated_at", "pk")[limit:])
        JobSlot.objects.filter(pk__in=[s.pk for s in excess]).update(
            status=JobSlot.Status.SUSPENDED, suspended_at=at, suspension_cause=cause
        )
        suspended = [s.job_ref for s in excess]
        active -= len(excess)
        raise_alerts(
            specs=[
                AlertSpec(
                    account_id=account.pk,
                    meter_id=slot_meter_id(),
                    kind=Alert.Kind.SUSPENDED,
                    period_start=period_of(at).start,
                    message=(
                        f"{_postings(len(excess))} suspended after "
                        f"{cause}: your slot limit is now {limit}. A slot pack "
                        "restores them."
                    ),
                )
            ]
        )
        record_events(
            specs=[
                slot_event(
                    type=EventType.JOB_SLOT_SUSPENDED,
                    account_id=account.pk,
                    job_refs=suspended,
                    limit=limit,
                    active=active,
                    cause=cause,
                    at=at,
                )
            ]
        )
    elif active < limit and counts["suspended"]:
        waiting = list(
            account.job_slots.filter(status=JobSlot.Status.SUSPENDED).order_by(
                "allocated_at", "pk"
            )[: limit - active]
        )
        if waiting:
            JobSlot.objects.filter(pk__in=[s.pk for s in waiting]).update(
                status=JobSlot.Status.ACTIVE, suspended_at=None, suspension_cause=""
            )
            reactivated = [s.job_ref for s in waiting]
            active += len(waiting)
            record_events(
                specs=[
                    slot_event(
                        type=EventType.JOB_SLOT_REACTIVATED,
                        account_id=account.pk,
                        job_refs=reactivated,
                        limit=limit,
                        active=active,
                        cause="capacity returned",
                        at=at,
                    )
                ]
            )
    return SlotReconciliation(
        suspended=suspended, reactivated=reactivated, active=active
    )


def _postings(count: int) -> str:
    """'1 job posting was', '3 job postings were'."""
    return f"{count} job posting was" if count == 1 else f"{count} job postings were"
