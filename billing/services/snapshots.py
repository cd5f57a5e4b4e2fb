"""Daily usage snapshots: one row per account, meter and day.

Taken from the event facts as of the day's end, so a backfill (or a late
event before the snapshot) is accurate, and idempotent through the unique
(account, meter, day) constraint. Charts and storage GB-months read these.
"""

from datetime import date, datetime, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from ..errors import InvalidRequest
from ..models import Account, JobSlot, Meter, UsageEvent, UsageSnapshot
from ..selectors import quota_statuses, usage_state
from ..units import day_end, period_of
from .rollups import refresh_usage_rollups

CHUNK = 1000


def _levels_at(meter: Meter, account_ids: list[int], day: date) -> dict[int, int]:
    """Level (gauges, slots) or period usage (counters) at the end of ``day``."""
    moment = day_end(day)
    if meter.kind == Meter.Kind.ALLOCATION:
        held = JobSlot.objects.filter(
            account_id__in=account_ids, allocated_at__lt=moment
        ).exclude(
            # Half-open day, as for events: a change at the end moment
            # (midnight) belongs to the next day.
            Q(released_at__lt=moment)
            | Q(status=JobSlot.Status.SUSPENDED, suspended_at__lt=moment)
        )
        return dict(
            held.values("account_id")
            .annotate(n=Count("pk"))
            .values_list("account_id", "n")
        )
    events = UsageEvent.objects.filter(
        account_id__in=account_ids, meter=meter, timestamp__lt=moment
    )
    if meter.kind == Meter.Kind.COUNTER:
        events = events.filter(timestamp__gte=period_of(day).starts_at)
    return dict(
        events.values("account_id")
        .annotate(total=Sum("quantity"))
        .values_list("account_id", "total")
    )


def take_usage_snapshots(*, day: date, now: datetime | None = None) -> int:
    """Snapshot every account for a finished day; a rerun adds nothing.

    Returns the number of rows written. The day's staff rollups are refreshed
    too, so analytics never aggregate raw snapshots at request time.
    """
    now = now or timezone.now()
    moment = day_end(day)
    last_instant = moment - timedelta(microseconds=1)
    if moment > now:
        raise InvalidRequest(
            f"{day} is not over yet; snapshots are taken of finished days."
        )
    meters = list(Meter.objects.all())
    created = 0
    ids = list(
        Account.objects.filter(created_at__lt=moment)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), CHUNK):
        chunk_ids = ids[start : start + CHUNK]
        accounts = list(Account.objects.filter(pk__in=chunk_ids))
        done = set(
            UsageSnapshot.objects.filter(account_id__in=chunk_ids, day=day).values_list(
                "account_id", "meter_id"
            )
        )
        if len(done) >= len(accounts) * len(meters):
            continue
        # Limits, consents and the period as of the day's last instant: at
        # ``moment`` itself (next midnight) a grant ending at midnight has
        # lapsed, and on a month's last day the next period has begun.
        statuses = quota_statuses(accounts=accounts, at=last_instant)
        used_by_meter = {m.pk: _levels_at(m, chunk_ids, day) for m in meters}
        rows = []
        for account in accounts:
            for status in statuses[account.pk]:
                if (account.pk, status.meter.pk) in done:
                    continue
                used = used_by_meter[status.meter.pk].get(account.pk, 0)
                rows.append(
                    UsageSnapshot(
                        account=account,
                        meter=status.meter,
                        day=day,
                        used=used,
                        limit=status.limit,
                        state=usage_state(
                            meter=status.meter,
                            used=used,
                            limit=status.limit,
                            consent=status.consent,
                            accrued_cents=status.accrued_cents,
                            hard_blocked=account.hard_blocked,
                        ),
                        taken_at=now,
                    )
                )
        UsageSnapshot.objects.bulk_create(rows, ignore_conflicts=True)
        created += len(rows)
    refresh_usage_rollups(start=day, end=day)
    return created
