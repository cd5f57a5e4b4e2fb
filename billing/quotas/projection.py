"""Where the running period's overage is heading, for the overage page.

A counter is projected at the rate of its recent usage: the last
``WINDOW_DAYS`` days of this period (from the daily snapshots) plus today so
far, or the whole period so far where a snapshot is missing. With fewer than
``MIN_DATA_DAYS`` days of this period behind it there is no projection: a
rate from one day says nothing about a month. Storage is projected as if
today's level stays, which needs no history. Projections are shown, never
billed; they are kept out of ``QuotaStatus`` so that authorize and ingestion
never pay for them.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from ..models import Account, Meter, UsageSnapshot
from ..units import Period
from .rules import counter_overage_cents, storage_overage_cents

WINDOW_DAYS = 7
MIN_DATA_DAYS = 3
_DAY = Decimal(86400)


@dataclass(frozen=True, slots=True)
class Projection:
    """The overage by the period end if usage goes on as it has."""

    # Uncapped: with a live consent, the consented overage so far plus the
    # excess still to come; without one, what the excess would cost by the
    # period end if it were consented.
    cost_cents: int
    billable_cents: int  # what close would charge: consented, capped (0 without)
    # The rate's basis: since this instant (counters), or None when the
    # level is assumed to stay (storage).
    since: datetime | None

    @property
    def capped(self) -> bool:
        return self.cost_cents > self.billable_cents


def overage_projections(
    *, account: Account, statuses: Sequence, at: datetime
) -> dict[int, Projection | None]:
    """A projection per priced meter of ``statuses`` (``QuotaStatus``), by
    meter id; None where there is too little data. One query (snapshots)."""
    counters = [s for s in statuses if s.meter.kind == Meter.Kind.COUNTER]
    anchors = _anchors(account=account, statuses=counters, at=at)
    projections: dict[int, Projection | None] = {}
    for status in statuses:
        if status.meter.is_hard_limit:
            continue
        if status.meter.kind == Meter.Kind.GAUGE:
            projections[status.meter.pk] = _storage(status, at=at)
        elif status.meter.kind == Meter.Kind.COUNTER:
            projections[status.meter.pk] = _counter(
                status, at=at, anchor=anchors.get(status.meter.pk)
            )
    return projections


def window_start(period: Period, at: datetime) -> datetime:
    """The trailing window's first instant: a week before today's start,
    never before the period's."""
    today = datetime.combine(at.astimezone(UTC).date(), datetime.min.time(), UTC)
    return max(period.starts_at, today - timedelta(days=WINDOW_DAYS))


def _anchors(
    *, account: Account, statuses: Sequence, at: datetime
) -> dict[int, tuple[datetime, int]]:
    """(since, used at that instant) per counter meter: the window's start
    when the day before it has a snapshot, else the period's start (0)."""
    if not statuses:
        return {}
    period = statuses[0].period
    start = window_start(period, at)
    anchors = {s.meter.pk: (period.starts_at, 0) for s in statuses}
    if start == period.starts_at:
        return anchors
    day_before: date = (start - timedelta(days=1)).date()
    for meter_id, used in UsageSnapshot.objects.filter(
        account=account, meter_id__in=list(anchors), day=day_before
    ).values_list("meter_id", "used"):
        anchors[meter_id] = (start, used)
    return anchors


def _counter(
    status, *, at: datetime, anchor: tuple[datetime, int] | None
) -> Projection | None:
    since, used_then = anchor or (status.period.starts_at, 0)
    elapsed = Decimal((at - since).total_seconds()) / _DAY
    in_period = Decimal((at - status.period.starts_at).total_seconds()) / _DAY
    if in_period < MIN_DATA_DAYS or elapsed <= 0:
        return None
    rate = Decimal(max(status.used - used_then, 0)) / elapsed
    left = Decimal((status.period.ends_at - at).total_seconds()) / _DAY
    projected_used = status.used + int(rate * left)
    meter = status.meter
    if status.consent is None:
        cost = counter_overage_cents(meter, max(projected_used - status.limit, 0))
        return Projection(cost_cents=cost, billable_cents=0, since=since)
    future_excess = max(projected_used - max(status.used, status.limit), 0)
    cost = status.accrued_cents + counter_overage_cents(meter, future_excess)
    return Projection(
        cost_cents=cost,
        billable_cents=min(cost, status.consent.cap_cents),
        since=since,
    )


def _storage(status, *, at: datetime) -> Projection:
    """Today's excess for every day left, on top of the consented excess
    already used (whose cost ``accrued_cents`` holds)."""
    period = status.period
    excess = max(status.used - status.limit, 0)
    days_left_after_today = (period.end - at.astimezone(UTC).date()).days - 1
    ahead = excess * (1 + days_left_after_today)
    if status.consent is None:
        cost = storage_overage_cents(status.meter, ahead, period)
        return Projection(cost_cents=cost, billable_cents=0, since=None)
    cost = storage_overage_cents(status.meter, status.consented_excess + ahead, period)
    return Projection(
        cost_cents=cost,
        billable_cents=min(cost, status.consent.cap_cents),
        since=None,
    )
