"""Record usage events: atomic batches, idempotent ids, set-based writes.

A batch is all or nothing: one bad event rolls the whole batch back. No
account-wide lock is taken. On PostgreSQL a batch is one insert of the
events, one set-based increment of the period counters and one conditional
update of the gauge levels; rows are touched in (account, meter) order, so
batches sharing accounts queue on each row in one order and cannot deadlock.
A gauge delta is checked against the level in arrival order (the level as
recorded plus the batch's running sum) by the update's own condition.
Alerts are evaluated after commit by a task (``request_alert_evaluation``).
Recording never refuses usage for being over a limit: facts are kept, and
the limit decides only what ``authorize_usage`` answers and what is billed.
"""

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ..db import any_of
from ..errors import InvalidRequest
from ..models import (
    Account,
    Meter,
    UsageEvent,
    UsageSnapshot,
)
from ..quotas.hot import METER_FIELDS
from ..tasks import enqueue_with_write, refresh_rollups
from ..units import (
    Period,
    period_of,
)
from .alerts import UsageRow, request_alert_evaluation
from .counters import refold_counters_from
from .snapshots import refresh_usage_snapshots
from .usage_batch import (  # the batch's types are imported from here
    MAX_BATCH,
    ParsedEvent,
    UsageEventInput,
    UsageRecordResult,
    Window,
    closed_periods,
    counter_totals,
    gauge_levels,
    limit_errors,
    move_out_of_closed_period,
    parse_events,
    reject,
    seen_events,
    sort_out,
)
from .usage_writes import Total, insert_and_count_statement, write_batch

# PostgreSQL gets the set-based statements (``usage_writes``: unnest arrays,
# one statement each); other databases take the portable ORM path. Both apply the
# same checks in the same order; tests run a batch through each and compare.
PG_FAST_PATH = True


def record_usage_events(
    *, events: Sequence[UsageEventInput], received_at: datetime | None = None
) -> UsageRecordResult:
    """Record a batch of 1-1000 events, all or nothing.

    Raises ``UsageBatchRejected`` listing every bad index with its code.
    An id seen before with the same payload counts as a duplicate; with
    another payload it is an ``idempotency_conflict``.
    """
    if not 1 <= len(events) <= MAX_BATCH:
        raise InvalidRequest(f"A batch holds 1 to {MAX_BATCH} events.")
    now = received_at or timezone.now()
    try:
        return _record(events, now=now)
    except IntegrityError:
        # A batch repeating an id goes the portable way (read, then insert):
        # should a concurrent batch commit the same id in between, a second
        # pass sees the committed row as a duplicate or a conflict.
        return _record(events, now=now)


def _fast_path() -> bool:
    return PG_FAST_PATH and connection.vendor == "postgresql"


def _look_up(
    events: Sequence[UsageEventInput],
) -> tuple[dict[str, int], dict[str, Meter]]:
    """The accounts named by external id (id by external id) and the meters
    (by code): one unlocked read on PostgreSQL.

    Plain SQL: the ORM would compile these lookups slower than the database
    answers them. A join on the unnested names, not ``= ANY(...)``, which
    compares every row with every name when the planner scans.
    """
    names = sorted({e.account for e in events if isinstance(e.account, str)})
    account_table = Account._meta.db_table
    if connection.vendor != "postgresql":
        meters = {m.code: m for m in Meter.objects.all()}
        if not names:
            return {}, meters
        marks = ", ".join(["%s"] * len(names))
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT external_id, id FROM {account_table}"
                f" WHERE external_id IN ({marks})",
                names,
            )
            return dict(cursor.fetchall()), meters
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT json_agg(json_build_array(a.external_id, a.id))"
            f" FROM unnest(%s::text[]) AS n(name) JOIN {account_table} a"
            " ON a.external_id = n.name),"
            f" (SELECT json_agg(json_build_array({', '.join(METER_FIELDS)}))"
            f" FROM {Meter._meta.db_table})",
            [names],
        )
        accounts, meters = cursor.fetchone()
    return dict(accounts or ()), {
        row[1]: Meter(**dict(zip(METER_FIELDS, row, strict=True)))
        for row in meters or ()
    }


def _record(events: Sequence[UsageEventInput], *, now: datetime) -> UsageRecordResult:
    found, meters = _look_up(events)
    parsed, errors = parse_events(events, meters=meters, accounts=found, at=now)
    window = Window(
        floor=period_of(now).previous().starts_at,
        closed=closed_periods({p.period.start for p in parsed}, now),
    )
    unique_ids = len({p.key for p in parsed}) == len(parsed)
    with transaction.atomic():
        counted = None
        if _fast_path() and unique_ids and not errors:
            new, duplicates, counted = _insert_first(
                parsed, errors, window=window, now=now
            )
        else:
            new, duplicates = _check_then_insert(parsed, errors, window=window, now=now)
        if new:
            totals = write_batch(new, at=now, counted=counted, fast=_fast_path())
            _after_write(new, totals=totals, now=now)
    return UsageRecordResult(accepted=len(new), duplicates=duplicates)


def _check_then_insert(
    parsed: list[ParsedEvent],
    errors: list[dict[str, Any]],
    *,
    window: Window,
    now: datetime,
) -> tuple[list[ParsedEvent], int]:
    """Portable path: read the known ids and totals, check, then insert.

    On SQLite the IMMEDIATE transaction holds the write lock from BEGIN, so
    what is read here cannot change before the write. On PostgreSQL (a batch
    repeating an id, or a rejected one) the conditional writes of ``write_batch``
    decide again.
    """
    new, duplicates = sort_out(
        parsed, errors, seen=seen_events(p.key for p in parsed), window=window
    )
    errors += limit_errors(new, levels=gauge_levels(new), counters=counter_totals(new))
    reject(errors)
    UsageEvent.objects.bulk_create(
        [
            UsageEvent(
                event_id=p.event_id,
                account_id=p.account_id,
                meter_id=p.meter.pk,
                quantity=p.quantity,
                timestamp=p.timestamp,
                reported_timestamp=p.reported_timestamp,
                received_at=now,
                properties=p.properties,
                payload_hash=p.payload_hash,
            )
            for p in new
        ],
        batch_size=MAX_BATCH,
    )
    return new, duplicates


def _insert_first(
    parsed: list[ParsedEvent],
    errors: list[dict[str, Any]],
    *,
    window: Window,
    now: datetime,
) -> tuple[list[ParsedEvent], int, dict[tuple[int, int, Any], "Total"]]:
    """PostgreSQL path for a batch of distinct ids: write, then check.

    One statement (``insert_and_count_statement``) inserts the events with ``ON
    CONFLICT DO NOTHING`` and adds the ones it inserted to the period
    counters; it returns which ids were new and the counters after. Only the
    other ids are read back, to tell duplicates from conflicts. Any error
    raises, and the rollback takes everything back. Event rows go in
    (account, id) order and counter rows in (account, meter, period) order,
    so batches sharing accounts wait on each other in one order and cannot
    deadlock. The batch travels as one JSON document, which PostgreSQL
    parses faster than the driver can encode arrays. Gauge levels and the
    10^18 limits are checked by ``write_batch``.
    """
    for p in parsed:
        move_out_of_closed_period(p, window)
    rows = [
        {
            "id": p.event_id,
            "account_id": p.account_id,
            "meter_id": p.meter.pk,
            "quantity": p.quantity,
            "ts": p.timestamp.isoformat(),
            "reported": p.reported_timestamp and p.reported_timestamp.isoformat(),
            "properties": p.properties,
            "hash": p.payload_hash,
            "period": p.period.start.isoformat(),
            "counter": p.meter.kind == Meter.Kind.COUNTER,
        }
        for p in parsed
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            insert_and_count_statement(), {"rows": json.dumps(rows), "now": now}
        )
        inserted_rows, counter_rows = cursor.fetchone()
    inserted = {(a, e) for a, e in inserted_rows or ()}
    totals = {
        (a, m, date.fromisoformat(p)): Total(
            used, allowance, blocked, may_fold, tuple(raised or ())
        )
        for a, m, p, used, allowance, blocked, may_fold, raised in counter_rows or ()
    }
    seen = seen_events(p.key for p in parsed if p.key not in inserted)
    new, duplicates = sort_out(parsed, errors, seen=seen, window=window)
    if errors:
        errors += limit_errors(
            new, levels=gauge_levels(new), counters=counter_totals(new)
        )
    reject(errors)
    return new, duplicates, totals


def record_usage_event(
    *,
    event_id: str,
    account: Account | str,
    meter: str,
    quantity: int,
    timestamp: datetime | None = None,
    properties: dict[str, Any] | None = None,
) -> UsageRecordResult:
    """One event: a batch of one, so the rules cannot drift apart."""
    return record_usage_events(
        events=[
            UsageEventInput(
                id=event_id,
                account=account,
                meter=meter,
                quantity=quantity,
                timestamp=timestamp,
                properties=properties or {},
            )
        ]
    )


def _after_write(
    new: list[ParsedEvent],
    *,
    totals: dict[tuple[int, int, Any], Total],
    now: datetime,
) -> None:
    """The caches a top-up, a consent or a late event changes, and alerts.

    Alerts are evaluated after commit, and only for the rows that may
    still need one (``rows_needing_alerts``).
    """
    meters = {p.meter.pk: p.meter for p in new}
    folds = {k for k, total in totals.items() if k[2] is not None and total.may_fold}
    late = _late_days(new, now=now)
    if folds or late:
        accounts = Account.objects.in_bulk({k[0] for k in folds} | {k[0] for k in late})
        _refold_counters(folds, accounts=accounts, meters=meters, now=now)
        _correct_snapshots(late, accounts=accounts, meters=meters, now=now)
    current = period_of(now).start
    lowered = _lowered(new)
    request_alert_evaluation(
        rows=(
            UsageRow(
                account_id=account_id,
                meter_id=meter_id,
                used=total.used,
                allowance=total.allowance,
                hard_blocked=total.hard_blocked,
                topped_up_or_consented=total.may_fold,
                decreased=(account_id, meter_id) in lowered,
                raised=total.raised,
            )
            for (account_id, meter_id, start), total in totals.items()
            if start in (None, current)
        ),
        at=now,
    )


def _lowered(new: list[ParsedEvent]) -> set[tuple[int, int]]:
    """The (account, meter) levels the batch took down."""
    net: dict[tuple[int, int], int] = defaultdict(int)
    for p in new:
        if p.meter.kind == Meter.Kind.GAUGE:
            net[(p.account_id, p.meter.pk)] += p.quantity
    return {key for key, delta in net.items() if delta < 0}


def _refold_counters(
    keys: set[tuple[int, int, Any]],
    *,
    accounts: dict[int, Account],
    meters: dict[int, Meter],
    now: datetime,
) -> None:
    """Refold the (account, meter) pairs with a top-up or consent that may
    matter, from the earliest period the batch touched.

    The batch holds these counter rows' locks since its increment, so the
    fold sees every batch committed before it.
    """
    starts: dict[tuple[int, int], Any] = {}
    for account_id, meter_id, start in keys:
        key = (account_id, meter_id)
        starts[key] = min(start, starts.get(key, start))
    for (account_id, meter_id), start in sorted(starts.items()):
        refold_counters_from(
            account=accounts[account_id],
            meter=meters[meter_id],
            period=Period(start),
            at=now,
        )


def _late_days(new: list[ParsedEvent], *, now: datetime) -> dict[tuple[int, int], Any]:
    """(account, meter) -> the first day before today the batch has events in."""
    today = now.astimezone(UTC).date()
    first: dict[tuple[int, int], Any] = {}
    for p in new:
        day = p.timestamp.astimezone(UTC).date()
        if day < today:
            key = (p.account_id, p.meter.pk)
            first[key] = min(day, first.get(key, day))
    return first


def _correct_snapshots(
    first: dict[tuple[int, int], Any],
    *,
    accounts: dict[int, Account],
    meters: dict[int, Meter],
    now: datetime,
) -> None:
    """A late event rewrites the snapshots from its day on (they are caches
    of the facts by day); the staff rollups of those days follow in the
    background, outside the ingest transaction."""
    if not first:
        return
    today = now.astimezone(UTC).date()
    taken = set(
        UsageSnapshot.objects.filter(
            account_id__in=any_of({a for a, _ in first}),
            meter_id__in={m for _, m in first},
            day__gte=min(first.values()),
        )
        .values_list("account_id", "meter_id")
        .distinct()
    )
    earliest = None
    for (account_id, meter_id), day in sorted(first.items()):
        if (account_id, meter_id) not in taken:
            continue
        refresh_usage_snapshots(
            accounts=[accounts[account_id]],
            meters=[meters[meter_id]],
            first_day=day,
            at=now,
        )
        earliest = day if earliest is None else min(earliest, day)
    if earliest is not None:
        end = today - timedelta(days=1)
        enqueue_with_write(
            refresh_rollups, start=earliest.isoformat(), end=end.isoformat()
        )
