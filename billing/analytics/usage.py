"""Usage patterns: the daily rollups, and today so far from the live caches
through the same quota_statuses as the dashboards and the API."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import User

from ..models import (
    Account,
    GaugeLevel,
    Meter,
    UsageCounter,
    UsageRollup,
    UsageSnapshot,
)
from ..permissions import VIEW_ANALYTICS, check_staff_power
from ..quotas.rules import CONSENTED_STATES
from ..selectors import QuotaStatus, quota_statuses
from ..units import period_of
from .revenue import DateRange

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
