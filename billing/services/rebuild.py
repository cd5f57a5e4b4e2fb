"""Rebuild every derived usage table from the facts.

Counters, gauge levels, top-up burns, daily snapshots and staff rollups are
caches of functions of the facts (events, grants, consents, slots). This
recomputes them; on a healthy database it changes nothing, which a property
test checks after every step of random histories.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Min, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth

from ..models import (
    Account,
    GaugeLevel,
    Grant,
    GrantBurn,
    Meter,
    UsageCounter,
    UsageEvent,
    UsageSnapshot,
)
from ..units import Period, day_end, period_of
from .counters import needs_fold, refold_counter
from .locks import lock_accounts
from .rollups import refresh_usage_rollups
from .snapshots import CHUNK, SNAPSHOT_FIELDS, snapshot_rows


@dataclass(frozen=True, slots=True)
class RebuildResult:
    accounts: int
    periods: list[Period]
    snapshot_days: int


def rebuild_usage(
    *,
    at: datetime,
    period: Period | None = None,
    account_ids: list[int] | None = None,
) -> RebuildResult:
    """Recompute the caches of ``period`` (default: all history) up to ``at``.

    Each chunk of accounts is rebuilt in one transaction under their row
    locks (purchases, consents, refunds wait) and, on PostgreSQL, an
    EXCLUSIVE lock on the counter and level tables: ingestion takes no
    account lock, so it waits there for the chunk instead of adding to a
    total being recomputed (reads, ``authorize`` included, go on). A
    rebuilt period also refolds the later ones, whose top-up balances open
    with its burns.
    """
    accounts = Account.objects.order_by("pk")
    if account_ids is not None:
        accounts = accounts.filter(pk__in=account_ids)
    ids = list(accounts.values_list("pk", flat=True))
    first = period or _first_period(ids, at)
    periods = []
    p = first
    while p.start <= period_of(at).start:
        periods.append(p)
        p = p.next()
    first_day = first.start
    last_day = at.date() - timedelta(days=1)
    if period is not None:
        last_day = min(last_day, period.end - timedelta(days=1))
    meters = list(Meter.objects.all())
    days = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        with transaction.atomic():
            _hold_ingestion()
            locked = list(lock_accounts(chunk).values())
            _rebuild_totals(locked, periods=periods, now=at)
            days = _rebuild_snapshots(
                locked, meters=meters, first_day=first_day, last_day=last_day, now=at
            )
    if last_day >= first_day:
        refresh_usage_rollups(start=first_day, end=last_day)
    return RebuildResult(accounts=len(ids), periods=periods, snapshot_days=days)


def _hold_ingestion() -> None:
    """Make concurrent usage writes wait until this transaction ends."""
    if connection.vendor != "postgresql":
        return  # SQLite: the IMMEDIATE transaction already holds the write lock
    tables = f"{UsageCounter._meta.db_table}, {GaugeLevel._meta.db_table}"
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")


def _first_period(ids: list[int], now: datetime) -> Period:
    starts = [
        UsageEvent.objects.filter(account_id__in=ids).aggregate(t=Min("timestamp"))[
            "t"
        ],
        Grant.objects.filter(account_id__in=ids).aggregate(t=Min("effective_at"))["t"],
        UsageSnapshot.objects.filter(account_id__in=ids).aggregate(t=Min("day"))["t"],
    ]
    found = [
        s if isinstance(s, datetime) else datetime(s.year, s.month, s.day, tzinfo=UTC)
        for s in starts
        if s is not None
    ]
    return period_of(min(found)) if found else period_of(now)


def _rebuild_totals(
    accounts: list[Account], *, periods: list[Period], now: datetime
) -> None:
    """Counter totals and gauge levels by sums of events, then the folds."""
    ids = [a.pk for a in accounts]
    starts = [p.start for p in periods]
    counters = {
        (row["account_id"], row["meter_id"], row["month"].date()): row["total"]
        for row in UsageEvent.objects.filter(
            account_id__in=ids,
            meter__kind=Meter.Kind.COUNTER,
            timestamp__gte=periods[0].starts_at,
            timestamp__lt=periods[-1].ends_at,
        )
        .annotate(month=TruncMonth("timestamp", tzinfo=UTC))
        .values("account_id", "meter_id", "month")
        .annotate(total=Sum("quantity"))
    }
    UsageCounter.objects.filter(account_id__in=ids, period_start__in=starts).update(
        used=0, covered_by_grants=0, consented_excess=0
    )
    UsageCounter.objects.bulk_create(
        [
            UsageCounter(account_id=a, meter_id=m, period_start=s, used=total)
            for (a, m, s), total in counters.items()
        ],
        update_conflicts=True,
        unique_fields=["account", "meter", "period_start"],
        update_fields=["used"],
    )
    levels = {
        (row["account_id"], row["meter_id"]): row["total"]
        for row in UsageEvent.objects.filter(
            account_id__in=ids, meter__kind=Meter.Kind.GAUGE
        )
        .values("account_id", "meter_id")
        .annotate(total=Sum("quantity"))
    }
    GaugeLevel.objects.filter(account_id__in=ids).update(level=0)
    GaugeLevel.objects.bulk_create(
        [
            GaugeLevel(account_id=a, meter_id=m, level=total, updated_at=now)
            for (a, m), total in levels.items()
        ],
        update_conflicts=True,
        unique_fields=["account", "meter"],
        update_fields=["level"],
    )
    GrantBurn.objects.filter(account_id__in=ids, period_start__in=starts).delete()
    by_pk = {a.pk: a for a in accounts}
    for meter in Meter.objects.filter(kind=Meter.Kind.COUNTER):
        for period in periods:
            for account_id in ids:
                if needs_fold(account_id=account_id, meter_id=meter.pk, period=period):
                    refold_counter(
                        account=by_pk[account_id], meter=meter, period=period, at=now
                    )
    burned = (
        GrantBurn.objects.filter(grant_id=OuterRef("pk"))
        .values("grant_id")
        .annotate(t=Sum("units"))
        .values("t")
    )
    Grant.objects.filter(account_id__in=ids).update(
        consumed=Coalesce(Subquery(burned), Value(0))
    )


def _rebuild_snapshots(
    accounts: list[Account],
    *,
    meters: list[Meter],
    first_day: date,
    last_day: date,
    now: datetime,
) -> int:
    """Every finished day's rows, in day order (storage builds on the days
    before), for accounts that existed on the day."""
    day, days = first_day, 0
    while day <= last_day:
        alive = [a for a in accounts if a.created_at < day_end(day)]
        rows = snapshot_rows(accounts=alive, meters=meters, day=day, at=now)
        UsageSnapshot.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["account", "meter", "day"],
            update_fields=SNAPSHOT_FIELDS,
        )
        days += 1
        day += timedelta(days=1)
    return days
