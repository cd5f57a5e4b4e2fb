"""Close billing periods: snapshots complete, then one overage charge per meter.

Money at close comes from the facts by their own instants (``billing.quotas``):
consented excess, capped by the period's latest consent.
Excess without consent, or beyond the cap, stays unbilled (shown to staff).
The (account, meter, period) unique constraint and the existence check under
the account lock make a rerun create nothing.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Min

from ..documents import LineIn, quote_charge
from ..errors import PeriodNotOver
from ..models import (
    Account,
    ChargeRecord,
    ClosedPeriod,
    EventType,
    Meter,
    OverageConsent,
    UsageEvent,
    UsageSnapshot,
)
from ..quotas.facts import covering_consents_filter, period_overage_from_facts
from ..units import Period, period_of
from .counters import refold_counter
from .documents import issue_invoice
from .locks import lock_account
from .snapshots import take_usage_snapshots
from .webhook_events import EventSpec, record_events


@dataclass(frozen=True, slots=True)
class PeriodClose:
    period: Period
    charges_created: int
    already_closed: bool


def close_billing_period(*, period: Period, at: datetime) -> PeriodClose:
    """Charge the period's consented overage once; later counter events into
    it are refused, later storage deltas count from the next period."""
    if period.ends_at > at:
        raise PeriodNotOver(f"{period} has not ended yet; close it after {period.end}.")
    day = period.start
    while day < period.end:
        take_usage_snapshots(day=day, at=at)
        day += timedelta(days=1)
    _, created = ClosedPeriod.objects.get_or_create(
        period_start=period.start, defaults={"closed_at": at}
    )
    pairs = sorted(
        set(
            OverageConsent.objects.filter(covering_consents_filter(period))
            .exclude(meter__overage_price_cents__isnull=True)
            .values_list("account_id", "meter_id")
        )
    )
    meters = {m.pk: m for m in Meter.objects.all()}
    charges = 0
    for account_id, meter_id in pairs:
        meter = meters[meter_id]
        with transaction.atomic():
            account = lock_account(Account(pk=account_id))
            if meter.kind == Meter.Kind.COUNTER:
                refold_counter(account=account, meter=meter, period=period, at=at)
            if _charge_overage(account=account, meter=meter, period=period, now=at):
                charges += 1
    _tell_period_closed(period=period, accounts={a for a, _ in pairs}, now=at)
    # Only now is the month's overage all charged: a close that died before
    # this line is found again by ``due_periods`` and finished.
    ClosedPeriod.objects.filter(
        period_start=period.start, charged_at__isnull=True
    ).update(charged_at=at)
    return PeriodClose(
        period=period, charges_created=charges, already_closed=not created
    )


def _tell_period_closed(
    *, period: Period, accounts: set[int], now: datetime, chunk: int = 500
) -> None:
    """One ``period.closed`` per account with usage or a consent in the
    period, listing its overage charges; a rerun adds none (dedupe keys)."""
    accounts |= set(
        UsageSnapshot.objects.filter(
            day__gte=period.start, day__lt=period.end, used__gt=0
        )
        .values_list("account_id", flat=True)
        .distinct()
    )
    charges: dict[int, list[Mapping[str, Any]]] = {}
    for row in ChargeRecord.objects.filter(
        kind=ChargeRecord.Kind.OVERAGE, period_start=period.start
    ).values("account_id", "pk", "meter__code", "amount_cents", "currency", "status"):
        charges.setdefault(row["account_id"], []).append(row)
    specs = [
        EventSpec(
            type=EventType.PERIOD_CLOSED,
            account_id=account_id,
            occurred_at=now,
            data={
                "period_start": period.start.isoformat(),
                "period_end": period.end.isoformat(),
                "overage_charges": [
                    {
                        "id": row["pk"],
                        "meter": row["meter__code"],
                        "amount_cents": row["amount_cents"],
                        "currency": row["currency"],
                        "status": row["status"],
                    }
                    for row in charges.get(account_id, [])
                ],
                "overage_total_cents": sum(
                    row["amount_cents"] for row in charges.get(account_id, [])
                ),
            },
            dedupe_key=f"period.closed:{account_id}:{period.start:%Y-%m}",
        )
        for account_id in sorted(accounts)
    ]
    for start in range(0, len(specs), chunk):
        with transaction.atomic():
            record_events(specs=specs[start : start + chunk])


def _charge_overage(
    *, account: Account, meter: Meter, period: Period, now: datetime
) -> bool:
    exists = ChargeRecord.objects.filter(
        account=account,
        kind=ChargeRecord.Kind.OVERAGE,
        meter=meter,
        period_start=period.start,
    ).exists()
    if exists:
        return False
    figures = period_overage_from_facts(
        account=account, meter=meter, period=period, known_at=now
    )
    if figures.billable_cents <= 0:
        return False
    description = f"{meter.name} overage, {period}" + (
        " (capped)" if figures.beyond_cap_cents else ""
    )
    # The consent's cap bounds the net overage price; tax comes on top, at
    # the rate of the day the charge is issued.
    quote = quote_charge(
        account=account,
        lines=[LineIn(description=description, unit_net_cents=figures.billable_cents)],
        at=now,
    )
    charge = ChargeRecord.objects.create(
        account=account,
        kind=ChargeRecord.Kind.OVERAGE,
        amount_cents=quote.gross_cents,
        currency=settings.BILLING_CURRENCY,
        status=ChargeRecord.Status.PENDING,
        idempotency_key=f"overage:{account.pk}:{meter.code}:{period}",
        description=description,
        meter=meter,
        period_start=period.start,
        created_at=now,
    )
    issue_invoice(
        charge=charge,
        quote=quote,
        period_start=period.start,
        period_end=period.last_day,
        at=now,
    )
    return True


def due_periods(*, at: datetime) -> list[Period]:
    """Months not yet closed (or whose close did not finish charging) whose
    end plus the grace period has passed.

    The grace (``BILLING_CLOSE_GRACE_HOURS``) gives late events time to
    arrive before the bill is final. From the first month with usage or a
    consent, so a month left open (another closed with ``--period``) is
    still found.
    """
    grace = timedelta(hours=settings.BILLING_CLOSE_GRACE_HOURS)
    starts = [
        UsageEvent.objects.aggregate(t=Min("timestamp"))["t"],
        OverageConsent.objects.aggregate(t=Min("given_at"))["t"],
    ]
    starts = [s for s in starts if s is not None]
    if not starts:
        return []
    closed = set(
        ClosedPeriod.objects.filter(charged_at__isnull=False).values_list(
            "period_start", flat=True
        )
    )
    due = []
    period = period_of(min(starts))
    while period.ends_at + grace <= at:
        if period.start not in closed:
            due.append(period)
        period = period.next()
    return due


def close_due_periods(*, at: datetime) -> list[PeriodClose]:
    """Close every month that is due (idempotent: a rerun closes nothing new)."""
    return [close_billing_period(period=p, at=at) for p in due_periods(at=at)]
