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

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import BigIntegerField, Case, F, Q, Value, When
from django.utils import timezone

from ..errors import InvalidRequest, UsageBatchRejected
from ..models import (
    Account,
    Alert,
    ClosedPeriod,
    GaugeLevel,
    Grant,
    Meter,
    OverageConsent,
    PlanAllowance,
    UsageCounter,
    UsageEvent,
    UsageSnapshot,
)
from ..quotas.hot import METER_FIELDS
from ..selectors import any_of
from ..tasks import enqueue_with_write, refresh_rollups
from ..units import (
    FUTURE_TOLERANCE,
    MAX_EVENT_QUANTITY,
    MAX_USAGE_TOTAL,
    Period,
    period_of,
)
from .alerts import SCREENED_KINDS, UsageRow, request_alert_evaluation
from .counters import refold_counters_from
from .snapshots import refresh_usage_snapshots

MAX_BATCH = 1000


@dataclass(frozen=True, slots=True)
class UsageEventInput:
    id: str
    account: Account | str  # an Account, or the platform's external_id
    meter: str
    quantity: Any  # validated here: the API passes what it was sent
    timestamp: datetime | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UsageRecordResult:
    accepted: int
    duplicates: int


@dataclass(slots=True)
class _Parsed:
    index: int
    event_id: str
    account_id: int
    meter: Meter
    quantity: int
    timestamp: datetime
    properties: dict[str, Any]
    payload_hash: str
    # Set when a storage delta dated in a closed period is counted from the
    # open period's first instant instead: what the platform sent.
    reported_timestamp: datetime | None = None
    # The billing period ``timestamp`` falls in (set with it).
    period: Period = field(init=False)

    def __post_init__(self) -> None:
        self.period = period_of(self.timestamp)

    @property
    def key(self) -> tuple[int, str]:
        """Event ids are scoped to their account."""
        return (self.account_id, self.event_id)


def _payload_hash(event: UsageEventInput, account_ref: str) -> str:
    """Hash what the caller sent (not defaults), so a resend is recognised."""
    payload = {
        "account": account_ref,
        "meter": event.meter,
        "quantity": event.quantity,
        "timestamp": event.timestamp.isoformat() if event.timestamp else None,
        "properties": event.properties or {},
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _error(index: int, code: str, message: str) -> dict[str, Any]:
    return {"index": index, "code": code, "message": message}


def _validate_shape(
    events: Sequence[UsageEventInput],
    *,
    meters: dict[str, Meter],
    accounts: dict[str, int],
    now: datetime,
) -> tuple[list[_Parsed], list[dict[str, Any]]]:
    """Checks that need no lock: ids, accounts, meters, quantities, timestamps."""
    parsed: list[_Parsed] = []
    errors: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        if not isinstance(event.id, str) or not 1 <= len(event.id) <= 128:
            errors.append(
                _error(index, "invalid_request", "id must be 1-128 characters.")
            )
            continue
        if isinstance(event.account, Account):
            account_id = event.account.pk
            account_ref = event.account.external_id or f"pk:{event.account.pk}"
        else:
            account_id = accounts.get(event.account)
            account_ref = event.account
        if account_id is None:
            errors.append(
                _error(index, "unknown_account", f"No account {event.account!r}.")
            )
            continue
        meter = meters.get(event.meter)
        if meter is None:
            errors.append(_error(index, "unknown_meter", f"No meter {event.meter!r}."))
            continue
        if not meter.is_event_based:
            errors.append(
                _error(
                    index,
                    "meter_not_event_based",
                    f"{meter.code} counts allocations; use the job-slot calls.",
                )
            )
            continue
        quantity = event.quantity
        if (
            not isinstance(quantity, int)
            or isinstance(quantity, bool)
            or quantity == 0
            or abs(quantity) > MAX_EVENT_QUANTITY
            or (quantity < 0 and meter.kind == Meter.Kind.COUNTER)
        ):
            errors.append(
                _error(
                    index,
                    "invalid_quantity",
                    "quantity must be a non-zero integer of at most 10^15"
                    + ("" if meter.kind == Meter.Kind.GAUGE else ", and positive")
                    + ".",
                )
            )
            continue
        timestamp = event.timestamp or now
        # Days and periods are UTC: an offset the platform sent is only a
        # way of writing the instant.
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=UTC)
        timestamp = timestamp.astimezone(UTC)
        if timestamp > now + FUTURE_TOLERANCE:
            errors.append(
                _error(
                    index, "future_timestamp", "timestamp is more than 5 minutes ahead."
                )
            )
            continue
        parsed.append(
            _Parsed(
                index=index,
                event_id=event.id,
                account_id=account_id,
                meter=meter,
                quantity=quantity,
                timestamp=timestamp,
                properties=event.properties or {},
                payload_hash=_payload_hash(event, account_ref),
            )
        )
    return parsed, errors


# PostgreSQL gets the set-based statements below (unnest arrays, one
# statement each); other databases take the portable ORM path. Both apply the
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
    parsed, errors = _validate_shape(events, meters=meters, accounts=found, now=now)
    window = _Window(
        floor=period_of(now).previous().starts_at,
        closed=_closed_periods({p.period.start for p in parsed}, now),
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
            totals = _write(new, now=now, counted=counted)
            _after_write(new, totals=totals, now=now)
    return UsageRecordResult(accepted=len(new), duplicates=duplicates)


def _closed_periods(starts: set[Any], now: datetime) -> set[Any]:
    """Closed periods among ``starts``. A period closes only after it ended
    (``close_billing_period``), so a batch of the current month alone (nearly
    every batch) needs no query."""
    if starts <= {period_of(now).start}:
        return set()
    return set(
        ClosedPeriod.objects.filter(period_start__in=starts).values_list(
            "period_start", flat=True
        )
    )


@dataclass(frozen=True, slots=True)
class _Window:
    """Which instants still take usage: not before the previous calendar
    month, and not in a closed period (storage deltas there move forward)."""

    floor: datetime
    closed: set[Any]


def _sort_out(
    parsed: list[_Parsed],
    errors: list[dict[str, Any]],
    *,
    seen: dict[tuple[int, str], str],
    window: _Window,
) -> tuple[list[_Parsed], int]:
    """Split the batch into new events and duplicates, in batch order.

    ``seen`` maps (account, id) recorded before this batch to the payload
    hash. Conflicts and closed periods are appended to ``errors``.
    """
    seen = dict(seen)
    new: list[_Parsed] = []
    duplicates = 0
    for p in parsed:
        # A resend of a recorded event stays a harmless duplicate even
        # after its period closed, so retries never turn into errors.
        known = seen.get(p.key)
        if known is not None:
            if known == p.payload_hash:
                duplicates += 1
            else:
                errors.append(
                    _error(
                        p.index,
                        "idempotency_conflict",
                        f"{p.event_id!r} was sent before with another payload.",
                    )
                )
            continue
        if p.timestamp < window.floor or (
            p.period.start in window.closed and p.meter.kind == Meter.Kind.COUNTER
        ):
            errors.append(
                _error(p.index, "period_closed", "That billing period is closed.")
            )
            continue
        _move_out_of_closed_period(p, window)
        seen[p.key] = p.payload_hash
        new.append(p)
    return new, duplicates


def _limit_errors(
    new: list[_Parsed],
    *,
    levels: dict[tuple[int, int], int],
    counters: dict[tuple[int, int, Any], int],
) -> list[dict[str, Any]]:
    """Running sums in batch order from the totals before the batch: a level
    below zero, or a level or counter past 10^18."""
    levels = dict(levels)
    counters = dict(counters)
    errors = []
    for p in new:
        if p.meter.kind == Meter.Kind.GAUGE:
            key = (p.account_id, p.meter.pk)
            level = levels.get(key, 0) + p.quantity
            if level < 0:
                errors.append(
                    _error(
                        p.index,
                        "negative_level",
                        f"This delta takes {p.meter.code} below zero (to {level}).",
                    )
                )
                continue
            if level > MAX_USAGE_TOTAL:
                errors.append(_overflow(p))
                continue
            levels[key] = level
        else:
            key3 = _counter_key(p)
            total = counters.get(key3, 0) + p.quantity
            if total > MAX_USAGE_TOTAL:
                errors.append(_overflow(p))
                continue
            counters[key3] = total
    return errors


def _reject(errors: list[dict[str, Any]]) -> None:
    if errors:
        raise UsageBatchRejected(
            "Some events are invalid; nothing was recorded.",
            details=sorted(errors, key=lambda e: e["index"]),
        )


def _counter_key(p: _Parsed) -> tuple[int, int, Any]:
    return (p.account_id, p.meter.pk, p.period.start)


def _overflow(p: _Parsed) -> dict[str, Any]:
    return _error(
        p.index,
        "usage_overflow",
        f"This event takes {p.meter.code} past 10^18 {p.meter.unit}s;"
        " nothing was recorded.",
    )


def _gauge_levels(parsed: Iterable[_Parsed]) -> dict[tuple[int, int], int]:
    """Current levels of the batch's gauge meters."""
    pairs = {
        (p.account_id, p.meter.pk) for p in parsed if p.meter.kind == Meter.Kind.GAUGE
    }
    if not pairs:
        return {}
    return {
        (account_id, meter_id): level
        for account_id, meter_id, level in GaugeLevel.objects.filter(
            account_id__in=any_of({a for a, _ in pairs}),
            meter_id__in={m for _, m in pairs},
        ).values_list("account_id", "meter_id", "level")
    }


def _counter_totals(parsed: Iterable[_Parsed]) -> dict[tuple[int, int, Any], int]:
    """Period totals of the batch's counters."""
    keys = {_counter_key(p) for p in parsed if p.meter.kind == Meter.Kind.COUNTER}
    if not keys:
        return {}
    return {
        (account_id, meter_id, start): used
        for account_id, meter_id, start, used in UsageCounter.objects.filter(
            account_id__in=any_of({k[0] for k in keys}),
            meter_id__in={k[1] for k in keys},
            period_start__in={k[2] for k in keys},
        ).values_list("account_id", "meter_id", "period_start", "used")
    }


def _seen(pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], str]:
    """Payload hashes of the (account, id) pairs already recorded."""
    pairs = set(pairs)
    if not pairs:
        return {}
    return {
        (account_id, event_id): payload_hash
        for account_id, event_id, payload_hash in UsageEvent.objects.filter(
            account_id__in=any_of({a for a, _ in pairs}),
            event_id__in=any_of({e for _, e in pairs}, db_type="text"),
        ).values_list("account_id", "event_id", "payload_hash")
        if (account_id, event_id) in pairs
    }


def _check_then_insert(
    parsed: list[_Parsed],
    errors: list[dict[str, Any]],
    *,
    window: _Window,
    now: datetime,
) -> tuple[list[_Parsed], int]:
    """Portable path: read the known ids and totals, check, then insert.

    On SQLite the IMMEDIATE transaction holds the write lock from BEGIN, so
    what is read here cannot change before the write. On PostgreSQL (a batch
    repeating an id, or a rejected one) the conditional writes of ``_write``
    decide again.
    """
    new, duplicates = _sort_out(
        parsed, errors, seen=_seen(p.key for p in parsed), window=window
    )
    errors += _limit_errors(
        new, levels=_gauge_levels(new), counters=_counter_totals(new)
    )
    _reject(errors)
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
    parsed: list[_Parsed],
    errors: list[dict[str, Any]],
    *,
    window: _Window,
    now: datetime,
) -> tuple[list[_Parsed], int, dict[tuple[int, int, Any], "_Total"]]:
    """PostgreSQL path for a batch of distinct ids: write, then check.

    One statement (``_INSERT_AND_COUNT``) inserts the events with ``ON
    CONFLICT DO NOTHING`` and adds the ones it inserted to the period
    counters; it returns which ids were new and the counters after. Only the
    other ids are read back, to tell duplicates from conflicts. Any error
    raises, and the rollback takes everything back. Event rows go in
    (account, id) order and counter rows in (account, meter, period) order,
    so batches sharing accounts wait on each other in one order and cannot
    deadlock. The batch travels as one JSON document, which PostgreSQL
    parses faster than the driver can encode arrays. Gauge levels and the
    10^18 limits are checked by ``_write``.
    """
    for p in parsed:
        _move_out_of_closed_period(p, window)
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
            _insert_and_count_statement(), {"rows": json.dumps(rows), "now": now}
        )
        inserted_rows, counter_rows = cursor.fetchone()
    inserted = {(a, e) for a, e in inserted_rows or ()}
    totals = {
        (a, m, date.fromisoformat(p)): _Total(
            used, allowance, blocked, may_fold, tuple(raised or ())
        )
        for a, m, p, used, allowance, blocked, may_fold, raised in counter_rows or ()
    }
    seen = _seen(p.key for p in parsed if p.key not in inserted)
    new, duplicates = _sort_out(parsed, errors, seen=seen, window=window)
    if errors:
        errors += _limit_errors(
            new, levels=_gauge_levels(new), counters=_counter_totals(new)
        )
    _reject(errors)
    return new, duplicates, totals


def _move_out_of_closed_period(p: _Parsed, window: "_Window") -> None:
    """A storage delta dated in a closed period counts from the open
    period's first instant: the level stays true, the closed bill does not
    change. (A counter event there is refused by ``_sort_out``.)"""
    if (
        p.period.start in window.closed
        and p.meter.kind == Meter.Kind.GAUGE
        and p.reported_timestamp is None
    ):
        p.reported_timestamp = p.timestamp
        p.timestamp = p.period.ends_at
        p.period = p.period.next()


@cache
def _insert_and_count_statement() -> str:
    events = UsageEvent._meta.db_table
    counters = UsageCounter._meta.db_table
    return f"""
    WITH src AS (
        SELECT * FROM json_to_recordset(%(rows)s::json) AS e(
            id text, account_id bigint, meter_id bigint, quantity bigint,
            ts timestamptz, reported timestamptz, properties jsonb, hash text,
            period date, counter boolean)
    ), ins AS (
        INSERT INTO {events} (event_id, account_id, meter_id, quantity,
            timestamp, reported_timestamp, received_at, properties, payload_hash)
        SELECT id, account_id, meter_id, quantity, ts, reported, %(now)s,
            properties, hash
        FROM src ORDER BY account_id, id
        ON CONFLICT (account_id, event_id) DO NOTHING
        RETURNING account_id, event_id
    ), cnt AS (
        INSERT INTO {counters} AS c (account_id, meter_id, period_start, used,
            covered_by_grants, consented_excess)
        SELECT s.account_id, s.meter_id, s.period, SUM(s.quantity)::bigint, 0, 0
        FROM src s JOIN ins i ON i.account_id = s.account_id AND i.event_id = s.id
        WHERE s.counter GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (account_id, meter_id, period_start)
        DO UPDATE SET used = c.used + EXCLUDED.used
        RETURNING c.account_id, c.meter_id, c.period_start, c.used,
            {_screen("c")}, {_MAY_FOLD}
    )
    SELECT (SELECT json_agg(json_build_array(account_id, event_id)) FROM ins),
        (SELECT json_agg(json_build_array(account_id, meter_id, period_start,
            used, allowance, blocked, may_fold, {_raised("cnt")})) FROM cnt)
    """


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


@dataclass(frozen=True, slots=True)
class _Total:
    """A counter or level after the batch, with what alerts are screened by."""

    used: int
    allowance: int
    hard_blocked: bool
    # A top-up or consent of the account and meter may change the fold (for
    # gauges: may move the limit or the state).
    may_fold: bool = False
    # The period's state alerts already raised (None: not read).
    raised: tuple[str, ...] | None = None


def _write(
    new: list[_Parsed],
    *,
    now: datetime,
    counted: dict[tuple[int, int, Any], _Total] | None = None,
) -> dict[tuple[int, int, Any], _Total]:
    """Add the batch to the counters and levels; raise if a limit breaks.

    ``counted``: the counter totals when the insert already added the batch
    to them. Returns the totals after the batch by (account, meter, period
    start) (``None`` for gauges).
    """
    counter_deltas: dict[tuple[int, int, Any], int] = defaultdict(int)
    gauge_deltas: dict[tuple[int, int], list[int]] = defaultdict(list)
    for p in new:
        if p.meter.kind == Meter.Kind.COUNTER:
            counter_deltas[_counter_key(p)] += p.quantity
        else:
            gauge_deltas[(p.account_id, p.meter.pk)].append(p.quantity)
    if not _fast_path():
        _add_to_counters(counter_deltas)
        _add_to_gauges(gauge_deltas, now=now)
        return _portable_totals(counter_deltas, gauge_deltas)
    totals = (
        counted if counted is not None else _add_to_counters_checked(counter_deltas)
    )
    over = [k for k, t in totals.items() if t.used > MAX_USAGE_TOTAL]
    levels: dict[tuple[int, int, Any], _Total] = {}
    if not over:
        levels = _add_to_gauges_checked(gauge_deltas, now=now)
    if over or len(levels) < len(gauge_deltas):
        # Nothing of this batch will commit: say which events broke a limit,
        # from the totals before the batch.
        counters_before = {k: t.used - counter_deltas[k] for k, t in totals.items()}
        levels_before = _gauge_levels(new)
        for (account_id, meter_id, _), total in levels.items():
            key = (account_id, meter_id)
            levels_before[key] = total.used - sum(gauge_deltas[key])
        _reject(
            _limit_errors(new, levels=levels_before, counters=counters_before)
            or [_error(new[0].index, "negative_level", "A level changed; retry.")]
        )
    return totals | levels


def _after_write(
    new: list[_Parsed],
    *,
    totals: dict[tuple[int, int, Any], _Total],
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


def _lowered(new: list[_Parsed]) -> set[tuple[int, int]]:
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
            now=now,
        )


def _late_days(new: list[_Parsed], *, now: datetime) -> dict[tuple[int, int], Any]:
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
            now=now,
        )
        earliest = day if earliest is None else min(earliest, day)
    if earliest is not None:
        end = today - timedelta(days=1)
        enqueue_with_write(
            refresh_rollups, start=earliest.isoformat(), end=end.isoformat()
        )


# Alerts screen rows by the plan allowance and the account's hard block; the
# writes return both with the new totals, so the screen costs no query.
_SCREEN = (
    "coalesce((SELECT pa.amount FROM {allowance} pa JOIN {account} a"
    " ON a.plan_id = pa.plan_id WHERE a.id = {row}.account_id"
    " AND pa.meter_id = {row}.meter_id), 0) AS allowance,"
    " (SELECT a.hard_blocked FROM {account} a WHERE a.id = {row}.account_id)"
    " AS blocked"
)


# Whether a refold may be needed: a grant or a consent of the account and
# meter that had not ended before the period started. A superset of what the
# fold uses (``GrantQuerySet.live_during``, ``covering_consents_filter``): a
# needless refold costs time, never a wrong figure.
_STARTED = "(c.period_start::timestamp AT TIME ZONE 'UTC')"
_MAY_FOLD = (
    f"(EXISTS (SELECT 1 FROM {Grant._meta.db_table} g"
    " WHERE g.account_id = c.account_id AND g.meter_id = c.meter_id"
    f" AND (g.expires_at IS NULL OR g.expires_at > {_STARTED})"
    f" AND (g.revoked_at IS NULL OR g.revoked_at > {_STARTED}))"
    f" OR EXISTS (SELECT 1 FROM {OverageConsent._meta.db_table} o"
    " WHERE o.account_id = c.account_id AND o.meter_id = c.meter_id"
    f" AND (o.revoked_at IS NULL OR o.revoked_at > {_STARTED}))) AS may_fold"
)


# Gauges: a live grant or consent may move the limit or the state (the
# alert screen treats the row as it treats a counter with a top-up).
_MAY_CHANGE_GAUGE = (
    f"(EXISTS (SELECT 1 FROM {Grant._meta.db_table} gr"
    " WHERE gr.account_id = g.account_id AND gr.meter_id = g.meter_id"
    " AND (gr.expires_at IS NULL OR gr.expires_at > %s)"
    " AND gr.revoked_at IS NULL)"
    f" OR EXISTS (SELECT 1 FROM {OverageConsent._meta.db_table} o"
    " WHERE o.account_id = g.account_id AND o.meter_id = g.meter_id"
    " AND (o.revoked_at IS NULL OR o.revoked_at > %s))) AS may_change"
)


def _raised(row: str) -> str:
    """The state alerts of the row's period already raised, as a JSON array
    (read only for a row at 80% of its allowance: the alert screen)."""
    return (
        f"CASE WHEN {row}.used * 5 >= {row}.allowance * 4 THEN"
        f" (SELECT coalesce(json_agg(al.kind), '[]'::json)"
        f" FROM {Alert._meta.db_table} al WHERE al.account_id = {row}.account_id"
        f" AND al.meter_id = {row}.meter_id AND al.period_start = {row}.period_start"
        f" AND al.kind IN ({', '.join(repr(str(k)) for k in SCREENED_KINDS)}))"
        " END"
    )


def _screen(row: str) -> str:
    return _SCREEN.format(
        allowance=PlanAllowance._meta.db_table,
        account=Account._meta.db_table,
        row=row,
    )


def _add_to_counters_checked(
    deltas: dict[tuple[int, int, Any], int],
) -> dict[tuple[int, int, Any], _Total]:
    """PostgreSQL: one upsert, rows in key order; returns the new totals.

    The upsert holds each counter row until commit: batches of one account
    and meter queue there (and refolds wait on it, ``refold_counter``).
    """
    if not deltas:
        return {}
    table = UsageCounter._meta.db_table
    keys = sorted(deltas)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS c"
            " (account_id, meter_id, period_start, used, covered_by_grants,"
            " consented_excess)"
            " SELECT a, m, p, d, 0, 0 FROM unnest(%s::bigint[], %s::bigint[],"
            " %s::date[], %s::numeric[]) AS u(a, m, p, d) ORDER BY a, m, p"
            " ON CONFLICT (account_id, meter_id, period_start)"
            " DO UPDATE SET used = c.used + EXCLUDED.used"
            f" RETURNING c.account_id, c.meter_id, c.period_start, c.used, "
            + _screen("c")
            + ", "
            + _MAY_FOLD,
            [
                [k[0] for k in keys],
                [k[1] for k in keys],
                [k[2] for k in keys],
                [deltas[k] for k in keys],
            ],
        )
        return {
            (a, m, p): _Total(used, allowance, blocked, may_fold)
            for a, m, p, used, allowance, blocked, may_fold in cursor.fetchall()
        }


def _add_to_gauges_checked(
    deltas: dict[tuple[int, int], list[int]], *, now: datetime
) -> dict[tuple[int, int, Any], _Total]:
    """PostgreSQL: add each (account, meter)'s deltas where the level stays
    within [0, 10^18] at every step of the batch, in arrival order.

    Missing rows are created at 0; the rows are then locked in key order and
    updated by one statement whose condition is the level as recorded plus
    the batch's lowest and highest running sum. Returns the rows updated: a
    row missing from the result broke a limit.
    """
    if not deltas:
        return {}
    keys = sorted(deltas)
    lows, highs = [], []
    for key in keys:
        running = low = high = 0
        for quantity in deltas[key]:
            running += quantity
            low, high = min(low, running), max(high, running)
        lows.append(low)
        highs.append(high)
    table = GaugeLevel._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (account_id, meter_id, level, updated_at)"
            " SELECT a, m, 0, %s FROM unnest(%s::bigint[], %s::bigint[]) AS u(a, m)"
            " ORDER BY a, m ON CONFLICT (account_id, meter_id) DO NOTHING",
            [now, [k[0] for k in keys], [k[1] for k in keys]],
        )
        cursor.execute(
            "WITH d AS (SELECT * FROM unnest(%s::bigint[], %s::bigint[],"
            " %s::numeric[], %s::numeric[], %s::numeric[])"
            " AS d(account_id, meter_id, delta, low, high)),"
            f" locked AS (SELECT g.id, d.delta, d.low, d.high FROM {table} g"
            " JOIN d ON g.account_id = d.account_id AND g.meter_id = d.meter_id"
            " ORDER BY g.account_id, g.meter_id FOR NO KEY UPDATE OF g)"
            f" UPDATE {table} g SET level = g.level + l.delta, updated_at = %s"
            " FROM locked l WHERE g.id = l.id AND g.level + l.low >= 0"
            " AND g.level + l.high <= %s"
            " RETURNING g.account_id, g.meter_id, g.level, "
            + _screen("g")
            + ", "
            + _MAY_CHANGE_GAUGE,
            [
                [k[0] for k in keys],
                [k[1] for k in keys],
                [sum(deltas[k]) for k in keys],
                lows,
                highs,
                now,
                MAX_USAGE_TOTAL,
                now,
                now,
            ],
        )
        return {
            (a, m, None): _Total(level, allowance, blocked, may_change)
            for a, m, level, allowance, blocked, may_change in cursor.fetchall()
        }


def _portable_totals(
    counter_deltas: dict[tuple[int, int, Any], int],
    gauge_deltas: dict[tuple[int, int], list[int]],
) -> dict[tuple[int, int, Any], _Total]:
    """The totals the PostgreSQL writes return, read back (other databases)."""
    account_ids = {k[0] for k in counter_deltas} | {k[0] for k in gauge_deltas}
    accounts = dict(
        Account.objects.filter(pk__in=account_ids).values_list("pk", "plan_id")
    )
    blocked = set(
        Account.objects.filter(pk__in=account_ids, hard_blocked=True).values_list(
            "pk", flat=True
        )
    )
    allowances = {
        (plan_id, meter_id): amount
        for plan_id, meter_id, amount in PlanAllowance.objects.filter(
            plan_id__in=set(accounts.values())
        ).values_list("plan_id", "meter_id", "amount")
    }
    counters = _counter_totals_by_key(counter_deltas)
    levels = _gauge_levels_by_key(gauge_deltas)
    may_fold = _may_fold(counter_deltas)
    totals = {}
    for key, used in [*counters.items(), *levels.items()]:
        account_id, meter_id = key[0], key[1]
        totals[key] = _Total(
            used,
            allowances.get((accounts[account_id], meter_id), 0),
            account_id in blocked,
            # Gauges: evaluated whenever at 80% (the screen's safe side).
            key[2] is None or (account_id, meter_id) in may_fold,
        )
    return totals


def _may_fold(deltas: dict[tuple[int, int, Any], int]) -> set[tuple[int, int]]:
    """The ``_MAY_FOLD`` screen through the ORM (other databases)."""
    if not deltas:
        return set()
    since = Period(min(k[2] for k in deltas)).starts_at
    account_ids = {k[0] for k in deltas}
    meter_ids = {k[1] for k in deltas}
    grants = Grant.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=since),
        Q(revoked_at__isnull=True) | Q(revoked_at__gt=since),
        account_id__in=account_ids,
        meter_id__in=meter_ids,
    ).values_list("account_id", "meter_id")
    consents = OverageConsent.objects.filter(
        Q(revoked_at__isnull=True) | Q(revoked_at__gt=since),
        account_id__in=account_ids,
        meter_id__in=meter_ids,
    ).values_list("account_id", "meter_id")
    return set(grants) | set(consents)


def _counter_totals_by_key(
    deltas: dict[tuple[int, int, Any], int],
) -> dict[tuple[int, int, Any], int]:
    found = UsageCounter.objects.filter(
        account_id__in={k[0] for k in deltas},
        meter_id__in={k[1] for k in deltas},
        period_start__in={k[2] for k in deltas},
    ).values_list("account_id", "meter_id", "period_start", "used")
    return {(a, m, p): used for a, m, p, used in found if (a, m, p) in deltas}


def _gauge_levels_by_key(
    deltas: dict[tuple[int, int], list[int]],
) -> dict[tuple[int, int, Any], int]:
    found = GaugeLevel.objects.filter(
        account_id__in={k[0] for k in deltas}, meter_id__in={k[1] for k in deltas}
    ).values_list("account_id", "meter_id", "level")
    return {(a, m, None): level for a, m, level in found if (a, m) in deltas}


def _add_to_counters(deltas: dict[tuple[int, int, Any], int]) -> None:
    """One upsert: used = used + delta (SQLite: the transaction holds the
    database write lock, the checks ran before)."""
    if not deltas:
        return
    table = UsageCounter._meta.db_table
    keys = sorted(deltas)
    adapt = connection.ops.adapt_datefield_value
    params: list[Any] = []
    for account_id, meter_id, period_start in keys:
        params += [account_id, meter_id, adapt(period_start)]
        params.append(deltas[(account_id, meter_id, period_start)])
    rows = ", ".join(["(%s, %s, %s, %s, 0, 0)"] * len(keys))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table}"
            " (account_id, meter_id, period_start, used, covered_by_grants,"
            " consented_excess)"
            f" VALUES {rows}"
            " ON CONFLICT (account_id, meter_id, period_start)"
            f" DO UPDATE SET used = {table}.used + EXCLUDED.used",
            params,
        )


def _add_to_gauges(deltas: dict[tuple[int, int], list[int]], *, now: datetime) -> None:
    """Create missing rows at 0, then add every delta (portable path, checked
    before under SQLite's write lock).

    Not an INSERT ... ON CONFLICT upsert: CHECK (level >= 0) is tested on the
    proposed insert row before the conflict is seen, so a negative delta on an
    existing level would fail.
    """
    if not deltas:
        return
    GaugeLevel.objects.bulk_create(
        [
            GaugeLevel(
                account_id=account_id, meter_id=meter_id, level=0, updated_at=now
            )
            for account_id, meter_id in sorted(deltas)
        ],
        ignore_conflicts=True,
    )
    by_meter: dict[int, dict[int, int]] = defaultdict(dict)
    for (account_id, meter_id), quantities in deltas.items():
        by_meter[meter_id][account_id] = sum(quantities)
    for meter_id, by_account in by_meter.items():
        GaugeLevel.objects.filter(
            meter_id=meter_id, account_id__in=list(by_account)
        ).update(
            level=F("level")
            + Case(
                *[
                    When(account_id=account_id, then=Value(delta))
                    for account_id, delta in by_account.items()
                ],
                default=Value(0),
                output_field=BigIntegerField(),
            ),
            updated_at=now,
        )
