"""Keep the daily per-meter usage rollups in step with the snapshots."""

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, DecimalField, F, FloatField, Q, Sum
from django.db.models.functions import Cast

from ..models import Meter, UsageRollup, UsageSnapshot
from ..selectors import State

BAND_FIELDS = [
    "accounts",
    "total_used",
    "under_50",
    "from_50_to_80",
    "from_80_to_100",
    "over_with_consent",
    "over_without_consent",
    "unbilled_excess",
]


def refresh_usage_rollups(*, start: date, end: date) -> int:
    """Recompute the rollups of days ``start``..``end`` from their snapshots.

    One aggregate query and one upsert, whatever the number of accounts;
    rerunning it rewrites the same numbers. Job slots are a hard limit with
    no usage to bill, so only event-based meters are rolled up.
    """
    over = Q(used__gt=F("limit"))
    idle = Q(used=0)  # also a plan with no allowance and no usage
    # used / limit against 50% and 80%, in integers: 2 * used < limit, ...
    rows = (
        UsageSnapshot.objects.filter(day__gte=start, day__lte=end)
        .exclude(meter__kind=Meter.Kind.ALLOCATION)
        .values("meter_id", "day")
        .annotate(
            accounts=Count("pk"),
            total_used=_wide_sum("used"),
            under_50=Count("pk", filter=~over & (idle | Q(limit__gt=2 * F("used")))),
            from_50_to_80=Count(
                "pk",
                filter=~over
                & ~idle
                & Q(limit__lte=2 * F("used"))
                & Q(limit__gt=F("used") * 5 / 4),
            ),
            from_80_to_100=Count(
                "pk", filter=~over & ~idle & Q(limit__lte=F("used") * 5 / 4)
            ),
            over_with_consent=Count(
                "pk", filter=over & Q(state__in=[State.OVERAGE, State.BLOCKED])
            ),
            over_without_consent=Count(
                "pk", filter=over & ~Q(state__in=[State.OVERAGE, State.BLOCKED])
            ),
            # Each snapshot carries its unbilled excess, computed by the
            # same rules as period close (no consent live, or beyond the cap).
            unbilled_excess=_wide_sum("unbilled_excess"),
        )
    )
    rollups = [
        UsageRollup(meter_id=row["meter_id"], day=row["day"], **_bands(row))
        for row in rows
    ]
    UsageRollup.objects.bulk_create(
        rollups,
        update_conflicts=True,
        unique_fields=["meter", "day"],
        update_fields=BAND_FIELDS,
        batch_size=500,
    )
    return len(rollups)


def _wide_sum(field: str) -> Sum:
    """A SUM that cannot overflow 64 bits: numeric on PostgreSQL. SQLite's
    integer SUM raises on overflow, so there it sums floats (a staff figure,
    never money)."""
    if connection.vendor == "sqlite":
        return Sum(Cast(field, FloatField()))
    return Sum(Cast(field, DecimalField(max_digits=38, decimal_places=0)))


def _bands(row: Mapping[str, Any]) -> dict[str, int | Decimal]:
    return {
        field: Decimal(round(row[field] or 0))
        if field in ("total_used", "unbilled_excess")
        else int(row[field] or 0)
        for field in BAND_FIELDS
    }
