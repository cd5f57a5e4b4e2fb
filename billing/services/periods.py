"""Close a billing period: snapshots complete, then one overage charge per meter.

Overage is charged only where a consent covered the period, and never more
than its cap; excess without consent stays unbilled (shown to staff). The
(account, meter, period) unique constraint and the existence check under the
account lock make a rerun create nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from ..errors import PeriodNotOver
from ..models import (
    ChargeRecord,
    ClosedPeriod,
    Meter,
    PlanAllowance,
    UsageCounter,
    UsageSnapshot,
)
from ..selectors import (
    billable_consents,
    counter_overage_cents,
    storage_overage_cents,
)
from ..units import Period
from .locks import lock_account
from .snapshots import take_usage_snapshots
from .usage import burn_top_ups


@dataclass(frozen=True, slots=True)
class PeriodClose:
    period: Period
    charges_created: int
    already_closed: bool


def overage_cost_cents(*, account_id: int, meter: Meter, period: Period) -> int:
    """A period's excess cost: counters by excess units, storage by GB-month."""
    if meter.is_hard_limit:
        return 0
    if meter.kind == Meter.Kind.GAUGE:
        excess_days = (
            UsageSnapshot.objects.filter(
                account_id=account_id,
                meter=meter,
                day__gte=period.start,
                day__lt=period.end,
            ).aggregate(total=Sum(Greatest(F("used") - F("limit"), Value(0))))["total"]
            or 0
        )
        return storage_overage_cents(meter, Decimal(excess_days), period)
    counter = (
        UsageCounter.objects.filter(
            account_id=account_id, meter=meter, period_start=period.start
        )
        .select_related("account")
        .first()
    )
    if counter is None:
        return 0
    allowance = (
        PlanAllowance.objects.filter(plan_id=counter.account.plan_id, meter=meter)
        .values_list("amount", flat=True)
        .first()
        or 0
    )
    excess = max(counter.used - allowance - counter.covered_by_grants, 0)
    return counter_overage_cents(meter, excess)


def close_billing_period(*, period: Period, now: datetime | None = None) -> PeriodClose:
    """Charge the period's consented overage once; later events into it are refused."""
    now = now or timezone.now()
    if period.ends_at > now:
        raise PeriodNotOver(f"{period} has not ended yet; close it after {period.end}.")
    day = period.start
    while day < period.end:
        take_usage_snapshots(day=day, now=now)
        day += timedelta(days=1)
    _, created = ClosedPeriod.objects.get_or_create(period_start=period.start)

    covering = billable_consents(period=period)

    charges = 0
    last_moment = period.ends_at - timedelta(microseconds=1)
    for (account_id, _meter_id), consent in sorted(covering.items()):
        with transaction.atomic():
            account = lock_account(consent.account)
            meter = consent.meter
            exists = ChargeRecord.objects.filter(
                account=account,
                kind=ChargeRecord.Kind.OVERAGE,
                meter=meter,
                period_start=period.start,
            ).exists()
            if exists:
                continue
            if meter.kind == Meter.Kind.COUNTER:
                burn_top_ups(
                    account_ids=[account_id],
                    meter_id=meter.pk,
                    period=period,
                    at=last_moment,
                )
            cost = overage_cost_cents(account_id=account_id, meter=meter, period=period)
            amount = min(cost, consent.cap_cents)
            if amount <= 0:
                continue
            ChargeRecord.objects.create(
                account=account,
                kind=ChargeRecord.Kind.OVERAGE,
                amount_cents=amount,
                currency=settings.BILLING_CURRENCY,
                status=ChargeRecord.Status.PENDING,
                idempotency_key=f"overage:{account_id}:{meter.code}:{period}",
                description=f"{meter.name} overage, {period}"
                + (" (capped)" if amount < cost else ""),
                meter=meter,
                period_start=period.start,
                created_at=now,
            )
            charges += 1
    return PeriodClose(
        period=period, charges_created=charges, already_closed=not created
    )
