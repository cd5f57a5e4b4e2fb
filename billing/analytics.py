"""Selectors for the staff analytics pages: revenue, packs, usage, balances.

Reads only, each metric in one place, all computed by aggregate queries
(and the daily usage rollups) so the pages stay fast on millions of rows.
Usage patterns add today so far from the live counters and gauge levels,
through the same ``quota_statuses`` as the dashboards and the API.

Revenue counts charges that were billed: paid or pending. Failed and void
charges are not revenue; a refund is negative revenue on its own date.

Every report takes the ``viewer`` and refuses (``MissingPermission``) staff
without ``billing.view_analytics``: the rule lives here, not only on the
pages, so any other caller meets it too. There is no system reader.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, Min, OuterRef, Q, Sum
from django.db.models.functions import TruncDay, TruncMonth
from django.utils import timezone

from accounts.models import User

from .models import (
    Account,
    ChargeRecord,
    GaugeLevel,
    Meter,
    Pack,
    Purchase,
    UsageCounter,
    UsageRollup,
    UsageSnapshot,
)
from .permissions import VIEW_ANALYTICS, check_staff_power
from .quotas.rules import CONSENTED_STATES
from .selectors import QuotaStatus, quota_statuses
from .units import period_of, to_cents

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
AGING_BUCKETS = ("0-30", "31-60", "61-90", "90+")


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

# Accounts per ``quota_statuses`` call for today's live figures: a fixed
# number of queries per chunk, and IN lists every backend takes.
LIVE_CHUNK = 1000
# A rollup's utilisation bands: each account in one of them on each day.
USAGE_BANDS = (
    "under_50",
    "from_50_to_80",
    "from_80_to_100",
    "over_with_consent",
    "over_without_consent",
)


@dataclass(frozen=True, slots=True)
class TopConsumer:
    account: Account
    used: int
    limit: int
    state: str


@dataclass(frozen=True, slots=True)
class LiveDay:
    """Today so far over every account, from the live counters and gauge
    levels: a ``UsageRollup``'s figures except the unbilled excess, which
    only the snapshots carry (None here)."""

    day: date
    accounts: int
    total_used: int
    under_50: int
    from_50_to_80: int
    from_80_to_100: int
    over_with_consent: int
    over_without_consent: int
    unbilled_excess: Decimal | None = None


@dataclass(frozen=True, slots=True)
class MeterUsage:
    meter: Meter
    days: list[UsageRollup]  # the range's snapshot days, oldest first
    top: list[TopConsumer] = field(default_factory=list)  # on ``latest``'s day
    today: LiveDay | None = None  # today so far, when the range includes it

    @property
    def rows(self) -> list[UsageRollup | LiveDay]:
        """Every day with figures: the snapshot days, then today."""
        return [*self.days, self.today] if self.today else list(self.days)

    @property
    def latest(self) -> UsageRollup | LiveDay | None:
        """The day the bands and top consumers describe: today when live."""
        return self.today or self.last_snapshot

    @property
    def last_snapshot(self) -> UsageRollup | None:
        return self.days[-1] if self.days else None


@dataclass(frozen=True, slots=True)
class UsageReport:
    period: DateRange
    at: datetime  # the instant today's live figures were read at
    meters: list[MeterUsage]
    snapshots_to: date | None  # the range's last day with snapshots

    @property
    def today(self) -> date | None:
        """The day of ``at`` when the range includes it (its figures are live)."""
        day = self.at.astimezone(UTC).date()
        return day if self.period.start <= day <= self.period.end else None

    @property
    def missing(self) -> DateRange | None:
        """Finished days of the range after its last snapshot day: the
        nightly snapshot has not run for them (yet)."""
        last = min(self.period.end, self.at.astimezone(UTC).date() - timedelta(days=1))
        first = self.period.start
        if self.snapshots_to is not None:
            first = max(first, self.snapshots_to + timedelta(days=1))
        return DateRange(first, last) if first <= last else None


def usage_patterns(
    *, viewer: User, period: DateRange, at: datetime | None = None, top_n: int = 10
) -> UsageReport:
    """Daily totals, utilisation bands and top consumers per meter.

    Finished days come from the rollups of the daily snapshots (one query),
    and a range that ends before today takes its top consumers from its last
    snapshot day (one query per meter). Today so far, when the range holds
    it, is read at ``at`` from the live counters and gauge levels through
    ``quota_statuses``, as the dashboards and the API read them. Needs
    ``billing.view_analytics``.
    """
    check_staff_power(actor=viewer, permission=VIEW_ANALYTICS)
    at = at or timezone.now()
    today = at.astimezone(UTC).date()
    by_meter: dict[int, list[UsageRollup]] = defaultdict(list)
    # Snapshots are taken of finished days only: today's figures are live.
    last_finished = min(period.end, today - timedelta(days=1))
    for rollup in UsageRollup.objects.filter(
        day__gte=period.start, day__lte=last_finished
    ).order_by("day"):
        by_meter[rollup.meter_id].append(rollup)
    meters = list(Meter.objects.exclude(kind=Meter.Kind.ALLOCATION))
    live: dict[int, tuple[LiveDay, list[TopConsumer]]] = {}
    if period.start <= today <= period.end:
        live = _live_days(meters=meters, at=at, top_n=top_n)
    result = []
    for meter in meters:
        days = by_meter.get(meter.pk, [])
        if meter.pk in live:
            today_row, top = live[meter.pk]
            result.append(MeterUsage(meter=meter, days=days, top=top, today=today_row))
            continue
        top = []
        if days:
            top = [
                TopConsumer(s.account, s.used, s.limit, s.state)
                for s in UsageSnapshot.objects.filter(meter=meter, day=days[-1].day)
                .select_related("account")
                .order_by("-used", "account_id")[:top_n]
            ]
        result.append(MeterUsage(meter=meter, days=days, top=top))
    return UsageReport(
        period=period,
        at=at,
        meters=result,
        snapshots_to=max((d[-1].day for d in by_meter.values()), default=None),
    )


def _live_days(
    *, meters: list[Meter], at: datetime, top_n: int
) -> dict[int, tuple[LiveDay, list[TopConsumer]]]:
    """Today so far per meter, and its top consumers, from every account's
    live status at ``at`` (``quota_statuses``: used, limit and state).

    An account with nothing used this period (no counter above 0, no gauge
    level) is idle whatever its limit: counted, under 50%, never loaded.
    The rest go through ``quota_statuses`` a chunk at a time.
    """
    existing = Account.objects.filter(created_at__lte=at)
    accounts = existing.count()
    period = period_of(at)
    active = list(
        existing.filter(
            Exists(
                UsageCounter.objects.filter(
                    account=OuterRef("pk"), period_start=period.start, used__gt=0
                )
            )
            | Exists(GaugeLevel.objects.filter(account=OuterRef("pk"), level__gt=0))
        ).order_by("pk")
    )
    bands: dict[int, dict[str, int]] = {
        m.pk: dict.fromkeys(USAGE_BANDS, 0) for m in meters
    }
    totals: dict[int, int] = dict.fromkeys(bands, 0)
    tops: dict[int, list[TopConsumer]] = {pk: [] for pk in bands}
    for start in range(0, len(active), LIVE_CHUNK):
        chunk = {a.pk: a for a in active[start : start + LIVE_CHUNK]}
        for account_id, statuses in quota_statuses(
            accounts=list(chunk.values()), at=at
        ).items():
            for status in statuses:
                meter_id = status.meter.pk
                if meter_id not in bands:
                    continue  # job slots: a hard limit with no usage to bill
                bands[meter_id][_band(status)] += 1
                totals[meter_id] += status.used
                if status.used > 0:
                    tops[meter_id].append(
                        TopConsumer(
                            chunk[account_id], status.used, status.limit, status.state
                        )
                    )
        for top in tops.values():
            top.sort(key=lambda t: (-t.used, t.account.pk))
            del top[top_n:]
    day = at.astimezone(UTC).date()
    result = {}
    for meter in meters:
        counted = bands[meter.pk]
        counted["under_50"] += accounts - sum(counted.values())  # the idle
        live_day = LiveDay(
            day=day,
            accounts=accounts,
            total_used=totals[meter.pk],
            under_50=counted["under_50"],
            from_50_to_80=counted["from_50_to_80"],
            from_80_to_100=counted["from_80_to_100"],
            over_with_consent=counted["over_with_consent"],
            over_without_consent=counted["over_without_consent"],
        )
        result[meter.pk] = (live_day, tops[meter.pk])
    return result


def _band(status: QuotaStatus) -> str:
    """One live status's utilisation band, by the integer comparisons
    ``refresh_usage_rollups`` makes on a snapshot (a test holds them equal)."""
    used, limit = status.used, status.limit
    if used > limit:
        # A staff block reads "blocked" with or without a consent; the band
        # asks whether the excess is consented, as the snapshots (which
        # leave staff blocks out) do.
        consented = status.consent is not None and status.state in CONSENTED_STATES
        return "over_with_consent" if consented else "over_without_consent"
    if used == 0 or limit > 2 * used:
        return "under_50"
    return "from_50_to_80" if limit > used * 5 // 4 else "from_80_to_100"


# Balances ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BalanceRow:
    account_id: int
    account_name: str
    total: int
    buckets: dict[str, int]
    oldest: datetime


@dataclass(frozen=True, slots=True)
class BalancesReport:
    rows: list[BalanceRow]  # oldest debt first, at most ``limit``
    accounts: int
    total: int
    buckets: dict[str, int]


def _aging(at: datetime) -> dict[str, Q]:
    """Age in whole days since the charge: 0-30, 31-60, 61-90, over 90."""
    d31, d61, d91 = (at - timedelta(days=n) for n in (31, 61, 91))
    return {
        "0-30": Q(created_at__gt=d31),
        "31-60": Q(created_at__gt=d61, created_at__lte=d31),
        "61-90": Q(created_at__gt=d91, created_at__lte=d61),
        "90+": Q(created_at__lte=d91),
    }


def outstanding_balances(
    *, viewer: User, at: datetime, limit: int | None = 200
) -> BalancesReport:
    """Accounts owing charges at ``at``, by age bucket, oldest debt first.

    Owed at ``at``: created by then and still pending, or paid only later
    (``paid_at``), so a past date shows what was owed then. Voided charges are
    left out (when they were voided is not recorded). Needs
    ``billing.view_analytics``.
    """
    check_staff_power(actor=viewer, permission=VIEW_ANALYTICS)
    pending = ChargeRecord.objects.filter(
        Q(status=ChargeRecord.Status.PENDING)
        | Q(status=ChargeRecord.Status.PAID, paid_at__gt=at),
        created_at__lte=at,
    ).exclude(kind=ChargeRecord.Kind.REFUND)
    aging = _aging(at)
    sums = {
        f"b{n}": Sum("amount_cents", filter=q) for n, q in enumerate(aging.values())
    }
    grouped: Any = (
        # Any: the bucket columns are named at run time.
        pending.values("account_id", "account__name")
        .annotate(total=Sum("amount_cents"), oldest=Min("created_at"), **sums)
        .order_by("oldest", "account_id")
    )
    if limit is not None:
        grouped = grouped[:limit]
    rows = [
        BalanceRow(
            account_id=r["account_id"],
            account_name=r["account__name"],
            total=int(r["total"]),
            buckets={
                name: int(r[f"b{n}"] or 0) for n, name in enumerate(AGING_BUCKETS)
            },
            oldest=r["oldest"],
        )
        for r in grouped
    ]
    totals = pending.aggregate(
        total=Sum("amount_cents"), accounts=Count("account_id", distinct=True), **sums
    )
    return BalancesReport(
        rows=rows,
        accounts=totals["accounts"] or 0,
        total=int(totals["total"] or 0),
        buckets={
            name: int(totals[f"b{n}"] or 0) for n, name in enumerate(AGING_BUCKETS)
        },
    )
