"""Job slot limits and the slots overview."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..models import (
    Account,
    Grant,
    JobSlot,
    Meter,
    PlanAllowance,
)
from ..quotas.rules import used_percent


def job_slot_limit(*, account: Account, at: datetime | None = None) -> int:
    """Plan allowance plus live slot grants (expired ones never count).

    One query: allocation reads it under the account's lock.
    """
    at = at or timezone.now()
    slots = Meter.objects.filter(code="job_slots")
    granted = (
        Grant.objects.active_at(at)
        .filter(account_id=account.pk, meter_id=OuterRef("pk"))
        .order_by()
        .values("meter_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    allowance = PlanAllowance.objects.filter(
        plan_id=account.plan_id, meter_id=OuterRef("pk")
    ).values("amount")[:1]
    row = slots.values_list(
        Coalesce(Subquery(allowance), 0), Coalesce(Subquery(granted), 0)
    ).first()
    return sum(row) if row else 0


@dataclass(frozen=True, slots=True)
class JobSlotOverview:
    used: int
    limit: int
    active: list[JobSlot]
    suspended: list[JobSlot]

    @property
    def percent(self) -> float:
        return used_percent(self.used, self.limit)

    @property
    def full(self) -> bool:
        """A posting needs a free slot: the rule allocation applies."""
        return self.used >= self.limit


def job_slot_overview(*, account: Account) -> JobSlotOverview:
    held = list(account.job_slots.held().order_by("allocated_at", "pk"))
    active = [s for s in held if s.status == JobSlot.Status.ACTIVE]
    suspended = [s for s in held if s.status == JobSlot.Status.SUSPENDED]
    return JobSlotOverview(
        used=len(active),
        limit=job_slot_limit(account=account),
        active=active,
        suspended=suspended,
    )
