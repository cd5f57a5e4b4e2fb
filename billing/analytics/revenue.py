"""Revenue by kind over a date range, recurring revenue and pack popularity."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Sum
from django.db.models.functions import TruncDay, TruncMonth

from accounts.models import User

from ..models import (
    ChargeRecord,
    Pack,
    Purchase,
)
from ..permissions import VIEW_ANALYTICS, check_staff_power
from ..units import to_cents

REVENUE_STATUSES = (ChargeRecord.Status.PAID, ChargeRecord.Status.PENDING)
REVENUE_KINDS = [
    ChargeRecord.Kind.CAPACITY_PACK,
    ChargeRecord.Kind.SLOT_PACK,
    ChargeRecord.Kind.RENEWAL,
    ChargeRecord.Kind.OVERAGE,
    ChargeRecord.Kind.THEME,
    ChargeRecord.Kind.BUNDLE,
    ChargeRecord.Kind.ADJUSTMENT,
    ChargeRecord.Kind.REFUND,
]


@dataclass(frozen=True, slots=True)
class DateRange:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def ends_at(self) -> datetime:
        """Exclusive end: midnight after the last day."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)

    def previous(self) -> "DateRange":
        """The range of the same length just before this one."""
        return DateRange(
            self.start - timedelta(days=self.days), self.start - timedelta(days=1)
        )


def _billed(period: DateRange):
    return ChargeRecord.objects.filter(
        status__in=REVENUE_STATUSES,
        created_at__gte=period.starts_at,
        created_at__lt=period.ends_at,
    )


# Revenue ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RevenueRow:
    bucket: date
    by_kind: dict[str, int]
    total: int


@dataclass(frozen=True, slots=True)
class RevenueReport:
    period: DateRange
    grain: str  # "day" or "month"
    rows: list[RevenueRow]
    totals_by_kind: dict[str, int]
    total: int
    previous_total: int
    recurring_cents: int

    @property
    def change_percent(self) -> float | None:
        if not self.previous_total:
            return None
        return round((self.total - self.previous_total) * 100 / self.previous_total, 1)


def _buckets(period: DateRange, grain: str) -> list[date]:
    if grain == "day":
        return [period.start + timedelta(days=n) for n in range(period.days)]
    months, month = [], period.start.replace(day=1)
    while month <= period.end:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def revenue_report(
    *, viewer: User, period: DateRange, grain: str = "day"
) -> RevenueReport:
    """Billed revenue per day or month and kind, with the previous range's total.

    Three queries whatever the number of charges (indexed on created_at).
    Needs ``billing.view_analytics``.
    """
    check_staff_power(actor=viewer, permission=VIEW_ANALYTICS)
    trunc = TruncMonth if grain == "month" else TruncDay
    cells: dict[date, dict[str, int]] = defaultdict(dict)
    rows = (
        _billed(period)
        .annotate(bucket=trunc("created_at", tzinfo=UTC))
        .values("bucket", "kind")
        .annotate(total=Sum("amount_cents"))
    )
    for row in rows:
        bucket = row["bucket"]
        day = bucket.date() if isinstance(bucket, datetime) else bucket
        cells[day][row["kind"]] = int(row["total"])
    report_rows = [
        RevenueRow(
            bucket=day,
            by_kind={kind: cells[day].get(kind, 0) for kind in REVENUE_KINDS},
            total=sum(cells[day].values()),
        )
        for day in _buckets(period, grain)
    ]
    totals: dict[str, int] = {
        k: sum(r.by_kind[k] for r in report_rows) for k in REVENUE_KINDS
    }
    previous = (
        _billed(period.previous()).aggregate(total=Sum("amount_cents"))["total"] or 0
    )
    return RevenueReport(
        period=period,
        grain=grain,
        rows=report_rows,
        totals_by_kind=totals,
        total=sum(totals.values()),
        previous_total=int(previous),
        recurring_cents=recurring_revenue_cents(viewer=viewer, at=period.ends_at),
    )


def recurring_revenue_cents(*, viewer: User, at: datetime) -> int:
    """Active subscription packs' price per 30 days (if all were renewed).

    Needs ``billing.view_analytics``.
    """
    check_staff_power(actor=viewer, permission=VIEW_ANALYTICS)
    rows = (
        Purchase.objects.filter(
            pack__kind=Pack.Kind.SUBSCRIPTION,
            status=Purchase.Status.COMPLETED,
            starts_at__lte=at,
            expires_at__gt=at,
        )
        .values("pack__term_days")
        .annotate(total=Sum("price_cents"))
    )
    monthly = sum(
        (Decimal(r["total"]) * 30 / r["pack__term_days"] for r in rows), Decimal(0)
    )
    return to_cents(monthly)


# Packs ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackStats:
    pack: Pack
    units: int  # first purchases in the range (refunded ones included)
    renewals: int
    lapses: int  # subscription terms that ended in the range, not renewed
    revenue_cents: int  # billed, net of refunds
    share: float  # of all pack revenue in the range, in %


def pack_popularity(*, viewer: User, period: DateRange) -> list[PackStats]:
    """Per pack: units sold, renewals vs lapses, revenue and its share.

    Needs ``billing.view_analytics``.
    """
    check_staff_power(actor=viewer, permission=VIEW_ANALYTICS)
    sold = Purchase.objects.filter(
        created_at__gte=period.starts_at, created_at__lt=period.ends_at
    ).exclude(status=Purchase.Status.FAILED)
    counts: dict[tuple[int, str], int] = {
        (r["pack_id"], r["kind"]): r["n"]
        for r in sold.values("pack_id", "kind").annotate(n=Count("pk"))
    }
    revenue = {
        r["purchase__pack_id"]: int(r["total"])
        for r in _billed(period)
        .filter(purchase__isnull=False)
        .values("purchase__pack_id")
        .annotate(total=Sum("amount_cents"))
    }
    renewed = Purchase.objects.filter(
        renewal_of=OuterRef("pk"), status=Purchase.Status.COMPLETED
    )
    lapses = dict(
        Purchase.objects.filter(
            pack__kind=Pack.Kind.SUBSCRIPTION,
            status=Purchase.Status.COMPLETED,
            expires_at__gte=period.starts_at,
            expires_at__lt=period.ends_at,
        )
        .exclude(Exists(renewed))
        .values("pack_id")
        .annotate(n=Count("pk"))
        .values_list("pack_id", "n")
    )
    all_revenue = sum(revenue.values())
    stats = []
    for pack in Pack.objects.all():
        units = counts.get((pack.pk, Purchase.Kind.PURCHASE), 0)
        renewals = counts.get((pack.pk, Purchase.Kind.RENEWAL), 0)
        cents = revenue.get(pack.pk, 0)
        if not (units or renewals or cents or lapses.get(pack.pk) or pack.is_active):
            continue  # retired and unsold: nothing to say
        stats.append(
            PackStats(
                pack=pack,
                units=units,
                renewals=renewals,
                lapses=lapses.get(pack.pk, 0),
                revenue_cents=cents,
                share=round(cents * 100 / all_revenue, 1) if all_revenue else 0.0,
            )
        )
    stats.sort(key=lambda s: (-s.revenue_cents, -s.units, s.pack.code))
    return stats


# Usage ------------------------------------------------------------------


# Balances ---------------------------------------------------------------
