"""Usage history for the charts: daily snapshots and today so far."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.utils import timezone

from ..models import (
    Account,
    Meter,
    UsageSnapshot,
)
from .catalogue import all_meters, meter_applies
from .quotas import account_quotas


@dataclass(frozen=True, slots=True)
class UsagePoint:
    day: date
    used: int
    limit: int
    state: str
    live: bool = False  # today so far, from the live counters (no snapshot yet)


@dataclass(frozen=True, slots=True)
class UsageSeries:
    meter: Meter
    points: list[UsagePoint]


def usage_history(
    *, account: Account, days: int, at: datetime | None = None
) -> list[UsageSeries]:
    """The last ``days`` days, one series per meter: finished days from the
    daily snapshots, then today so far from the live figures, so a chart
    never ends before the usage the user is being told about.

    Reads snapshots and the cached counters, never raw events.
    """
    at = at or timezone.now()
    today = at.astimezone(UTC).date()
    since = today - timedelta(days=days - 1)
    points: dict[int, list[UsagePoint]] = defaultdict(list)
    rows = (
        UsageSnapshot.objects.filter(account=account, day__gte=since, day__lt=today)
        .order_by("day")
        .values_list("meter_id", "day", "used", "limit", "state")
    )
    for meter_id, day, used, limit, state in rows:
        points[meter_id].append(UsagePoint(day, used, limit, state))
    for status in account_quotas(account=account, at=at):
        points[status.meter.pk].append(
            UsagePoint(today, status.used, status.limit, status.state, live=True)
        )
    return [
        UsageSeries(meter=meter, points=points.get(meter.pk, []))
        for meter in all_meters()
        if meter_applies(meter=meter, account=account)
    ]
