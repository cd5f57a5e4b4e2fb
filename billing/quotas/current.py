"""The running period's overage from the caches, for pages and staff.

The same rules as period close (``rules``), fed from the counters and the
daily snapshots instead of the raw events, plus today's live level.
"""

from datetime import datetime, timedelta

from ..models import (
    Account,
    GaugeLevel,
    Grant,
    Meter,
    PlanAllowance,
    UsageCounter,
    UsageSnapshot,
)
from ..units import period_of
from .facts import consent_windows
from .rules import (
    CONSENTED_STATES,
    GaugeDay,
    OverageFigures,
    counter_overage_cents,
    live_consent,
    period_cap_cents,
    storage_figures,
)


def period_overage(*, account: Account, meter: Meter, at: datetime) -> OverageFigures:
    """Billable, beyond-cap and unconsented overage of ``at``'s period so far."""
    period = period_of(at)
    consents = [
        c
        for c in consent_windows(
            account_id=account.pk, meter_id=meter.pk, period=period
        )
        if c.given_at <= at
    ]
    cap = period_cap_cents(consents, at + timedelta(microseconds=1))
    allowance = (
        PlanAllowance.objects.filter(plan_id=account.plan_id, meter=meter)
        .values_list("amount", flat=True)
        .first()
        or 0
    )
    if meter.kind == Meter.Kind.COUNTER:
        counter = UsageCounter.objects.filter(
            account=account, meter=meter, period_start=period.start
        ).first()
        if counter is None:
            excess = consented = 0
        else:
            excess = max(counter.used - allowance, 0) - counter.covered_by_grants
            consented = counter.consented_excess
        return OverageFigures(
            excess_units=excess,
            consented_units=consented,
            cost_cents=counter_overage_cents(meter, excess),
            consented_cents=counter_overage_cents(meter, consented),
            cap_cents=cap,
        )
    days = [
        GaugeDay(day, used, limit, state in CONSENTED_STATES)
        for day, used, limit, state in UsageSnapshot.objects.filter(
            account=account, meter=meter, day__gte=period.start, day__lt=at.date()
        ).values_list("day", "used", "limit", "state")
    ]
    level = (
        GaugeLevel.objects.filter(account=account, meter=meter)
        .values_list("level", flat=True)
        .first()
        or 0
    )
    granted = sum(
        Grant.objects.active_at(at)
        .filter(account=account, meter=meter)
        .values_list("amount", flat=True)
    )
    today = GaugeDay(
        at.date(), level, allowance + granted, live_consent(consents, at) is not None
    )
    return storage_figures(meter, period, [*days, today], cap)
