"""Keep the counter caches equal to the fold over the facts.

``UsageCounter.covered_by_grants`` / ``consented_excess``, ``GrantBurn``
and ``Grant.consumed`` are what the event-time fold (``billing.quotas``)
says of a period. They change when usage, a top-up or a consent lands in a
period that has top-ups or consents; the fold runs under the counter row's
lock (see ``refold_counter``).
A period's burns change the balances the next period opens with, so a
change refolds every later period up to the current one.
"""

from datetime import datetime

from django.db import connection
from django.db.models import Sum

from ..models import (
    Account,
    Grant,
    GrantBurn,
    Meter,
    OverageConsent,
    UsageCounter,
)
from ..quotas.facts import counter_fold, covering_consents_filter
from ..units import Period, period_of


def needs_fold(*, account_id: int, meter_id: int, period: Period) -> bool:
    """Only a top-up or a consent makes the fold differ from plain sums."""
    return (
        Grant.objects.live_during(period.starts_at, period.ends_at)
        .filter(account_id=account_id, meter_id=meter_id)
        .exists()
        or OverageConsent.objects.filter(
            covering_consents_filter(period), account_id=account_id, meter_id=meter_id
        ).exists()
        or GrantBurn.objects.filter(
            account_id=account_id, grant__meter_id=meter_id, period_start=period.start
        ).exists()
    )


def refold_counter(
    *, account: Account, meter: Meter, period: Period, at: datetime
) -> None:
    """Rewrite one period's counter caches from the fold (idempotent).

    The counter row is locked before the events are read: ingestion holds
    that row from its increment to its commit, so a fold never misses a
    batch that committed first, and a batch waiting on the row folds again
    after this one.
    """
    _lock_counter_row(account_id=account.pk, meter_id=meter.pk, period=period)
    fold = counter_fold(account=account, meter=meter, period=period, known_at=at)
    row = UsageCounter.objects.filter(
        account=account, meter=meter, period_start=period.start
    )
    if fold.used:
        row.update(
            used=fold.used,
            covered_by_grants=fold.covered,
            consented_excess=fold.consented_excess,
        )
    else:
        # A period without usage keeps no counter row, as on the write path
        # (a batch waiting on the lock inserts it afresh).
        row.delete()
    stale = GrantBurn.objects.filter(
        account=account, grant__meter=meter, period_start=period.start
    )
    touched = set(stale.values_list("grant_id", flat=True)) | set(fold.burned)
    stale.delete()
    GrantBurn.objects.bulk_create(
        [
            GrantBurn(
                account=account,
                grant_id=grant_id,
                period_start=period.start,
                units=units,
            )
            for grant_id, units in sorted(fold.burned.items())
        ]
    )
    totals = dict(
        GrantBurn.objects.filter(grant_id__in=touched)
        .values("grant_id")
        .annotate(total=Sum("units"))
        .values_list("grant_id", "total")
    )
    for grant_id in sorted(touched):
        Grant.objects.filter(pk=grant_id).update(consumed=totals.get(grant_id, 0))
    # Terms of this period that started by ``at`` are in the caches now.
    Grant.objects.unfolded_terms(since=period.starts_at, at=at).filter(
        account=account, meter=meter, effective_at__lt=period.ends_at
    ).update(start_folded_at=at)


def _lock_counter_row(*, account_id: int, meter_id: int, period: Period) -> None:
    """Take the row lock ingestion takes (an upsert locks even a new row)."""
    table = UsageCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (account_id, meter_id, period_start, used,"
            " covered_by_grants, consented_excess) VALUES (%s, %s, %s, 0, 0, 0)"
            " ON CONFLICT (account_id, meter_id, period_start)"
            f" DO UPDATE SET used = {table}.used",
            [account_id, meter_id, connection.ops.adapt_datefield_value(period.start)],
        )


def refold_counters_from(
    *, account: Account, meter: Meter, period: Period, at: datetime
) -> None:
    """Refold ``period`` and every later one up to ``at``'s, where needed."""
    current = period_of(at)
    while period.start <= current.start:
        if needs_fold(account_id=account.pk, meter_id=meter.pk, period=period):
            refold_counter(account=account, meter=meter, period=period, at=at)
        period = Period(period.end)
