"""Load the rules' inputs from the facts themselves.

The one cache read is ``GrantBurn`` of the periods before the one folded: it
sets the balance each top-up opens the period with (those periods were
folded first; ``rebuild_usage`` recomputes them in order).

Period close and the cache rebuild read here: usage events by their own
timestamps, grants by their start and end (a refund ends a grant at its
instant), consents by when they were given and revoked.
"""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from django.db.models import Case, IntegerField, Q, Sum, Value, When
from django.db.models.functions import TruncDate

from ..models import (
    Account,
    Grant,
    GrantBurn,
    Meter,
    OverageConsent,
    PlanAllowance,
    UsageEvent,
)
from ..units import Period, day_end
from .rules import (
    LAST_INSTANT,
    ConsentWindow,
    CounterFold,
    GaugeDay,
    OverageFigures,
    TopUp,
    counter_boundaries,
    counter_figures,
    fold_counter,
    live_consent,
    period_cap_cents,
    storage_figures,
)


def plan_allowance(*, account: Account, meter: Meter) -> int:
    return (
        PlanAllowance.objects.filter(plan_id=account.plan_id, meter=meter)
        .values_list("amount", flat=True)
        .first()
        or 0
    )


def covering_consents_filter(period: Period) -> Q:
    """Consents that cover ``period`` and were live at some instant of it."""
    return (
        Q(period_start=period.start) | Q(recurring=True, period_start__lt=period.start)
    ) & (
        Q(given_at__lt=period.ends_at)
        & (Q(revoked_at__isnull=True) | Q(revoked_at__gt=period.starts_at))
    )


def consent_windows(
    *, account_id: int, meter_id: int, period: Period
) -> list[ConsentWindow]:
    return [
        ConsentWindow(given_at, revoked_at, cap_cents)
        for given_at, revoked_at, cap_cents in OverageConsent.objects.filter(
            covering_consents_filter(period), account_id=account_id, meter_id=meter_id
        ).values_list("given_at", "revoked_at", "cap_cents")
    ]


def top_ups(
    *, account_id: int, meter_id: int, period: Period, known_at: datetime
) -> list[TopUp]:
    """Counter grants live during the period, as known at ``known_at``.

    A grant scheduled to start after ``known_at`` (a renewal) is not a fact
    yet. Opening balances subtract the burns of earlier periods.
    """
    grants = list(
        Grant.objects.live_during(period.starts_at, period.ends_at).filter(
            account_id=account_id, meter_id=meter_id, effective_at__lte=known_at
        )
    )
    if not grants:
        return []
    earlier = dict(
        GrantBurn.objects.filter(
            grant_id__in=[g.pk for g in grants], period_start__lt=period.start
        )
        .values("grant_id")
        .annotate(total=Sum("units"))
        .values_list("grant_id", "total")
    )
    return [
        TopUp(
            grant_id=g.pk,
            opening=g.amount - (earlier.get(g.pk) or 0),
            starts_at=g.effective_at,
            ends_at=g.ends_at,
            expires_at=g.expires_at,
        )
        for g in grants
    ]


def usage_segments(
    *, account_id: int, meter_id: int, boundaries: list[datetime]
) -> list[tuple[datetime, int]]:
    """Usage summed between consecutive boundaries: one query."""
    if len(boundaries) < 2:
        return []
    events = UsageEvent.objects.filter(
        account_id=account_id,
        meter_id=meter_id,
        timestamp__gte=boundaries[0],
        timestamp__lt=boundaries[-1],
    )
    whens = [
        When(timestamp__lt=edge, then=Value(i))
        for i, edge in enumerate(boundaries[1:-1])
    ]
    bucket = (
        Case(*whens, default=Value(len(boundaries) - 2), output_field=IntegerField())
        if whens
        else Value(0, output_field=IntegerField())
    )
    sums = dict(
        events.annotate(bucket=bucket)
        .values("bucket")
        .annotate(total=Sum("quantity"))
        .values_list("bucket", "total")
    )
    return [(edge, int(sums.get(i) or 0)) for i, edge in enumerate(boundaries[:-1])]


def counter_fold(
    *,
    account: Account,
    meter: Meter,
    period: Period,
    known_at: datetime,
    until: datetime | None = None,
    allowance: int | None = None,
    read_at: datetime | None = None,
) -> CounterFold:
    """Fold a counter's period from its events (exact to the microsecond)."""
    allowance = (
        plan_allowance(account=account, meter=meter) if allowance is None else allowance
    )
    grants = top_ups(
        account_id=account.pk, meter_id=meter.pk, period=period, known_at=known_at
    )
    consents = consent_windows(account_id=account.pk, meter_id=meter.pk, period=period)
    extra = [until] if until else []
    boundaries = counter_boundaries(period, grants, consents, extra)
    segments = usage_segments(
        account_id=account.pk, meter_id=meter.pk, boundaries=boundaries
    )
    return fold_counter(
        period=period,
        allowance=allowance,
        top_ups=grants,
        consents=consents,
        segments=segments,
        until=until,
        read_at=read_at,
    )


def gauge_days(
    *, account: Account, meter: Meter, period: Period, through: date
) -> list[GaugeDay]:
    """Each day of the period up to ``through``: level, limit and consent at
    the day's last instant, from the events and grants."""
    allowance = plan_allowance(account=account, meter=meter)
    mine = {"account_id": account.pk, "meter_id": meter.pk}
    opening = (
        UsageEvent.objects.filter(**mine, timestamp__lt=period.starts_at).aggregate(
            t=Sum("quantity")
        )["t"]
        or 0
    )
    last = min(through, period.end - timedelta(days=1))
    deltas: dict[date, int] = defaultdict(int)
    for day, total in (
        UsageEvent.objects.filter(
            **mine, timestamp__gte=period.starts_at, timestamp__lt=day_end(last)
        )
        .annotate(day=TruncDate("timestamp", tzinfo=UTC))
        .values("day")
        .annotate(total=Sum("quantity"))
        .values_list("day", "total")
    ):
        deltas[day] += total
    grants = list(
        Grant.objects.live_during(period.starts_at, day_end(last)).filter(**mine)
    )
    consents = consent_windows(account_id=account.pk, meter_id=meter.pk, period=period)
    days = []
    level = opening
    day = period.start
    while day <= last:
        level += deltas.get(day, 0)
        moment = day_end(day) - LAST_INSTANT
        limit = allowance + sum(g.amount for g in grants if g.is_live_at(moment))
        consented = live_consent(consents, moment) is not None
        # A late deletion floors an earlier day at 0, as in the snapshots.
        days.append(GaugeDay(day, max(level, 0), limit, consented))
        day += timedelta(days=1)
    return days


def period_overage_from_facts(
    *, account: Account, meter: Meter, period: Period, known_at: datetime
) -> OverageFigures:
    """A finished (or running) period's overage computed from the facts."""
    if meter.kind == Meter.Kind.COUNTER:
        fold = counter_fold(
            account=account, meter=meter, period=period, known_at=known_at
        )
        return counter_figures(meter, fold)
    consents = consent_windows(account_id=account.pk, meter_id=meter.pk, period=period)
    through = min(known_at.date(), period.end - timedelta(days=1))
    days = gauge_days(account=account, meter=meter, period=period, through=through)
    return storage_figures(
        meter, period, days, period_cap_cents(consents, period.ends_at)
    )
