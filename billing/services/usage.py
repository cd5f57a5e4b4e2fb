"""Record usage events: atomic batches, idempotent ids, set-based writes.

A batch is validated whole before anything is written, so one bad event
leaves the database untouched. Writes are one insert for the events and one
upsert each for counters and gauge levels, under the accounts' row locks.
Recording never refuses usage for being over a limit: facts are kept, and
the limit decides only what ``authorize_usage`` answers and what is billed.
"""

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import BigIntegerField, Case, F, Value, When
from django.utils import timezone

from ..errors import InvalidRequest, UsageBatchRejected
from ..models import (
    Account,
    ClosedPeriod,
    GaugeLevel,
    Grant,
    Meter,
    PlanAllowance,
    UsageCounter,
    UsageEvent,
)
from ..selectors import any_of
from ..units import FUTURE_TOLERANCE, MAX_EVENT_QUANTITY, Period, period_of
from .alerts import evaluate_usage_alerts
from .locks import lock_accounts

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
    accounts: dict[str, Account],
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
            account = event.account
            account_ref = event.account.external_id or f"pk:{event.account.pk}"
        else:
            account = accounts.get(event.account)
            account_ref = event.account
        if account is None:
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
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=UTC)
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
                account_id=account.pk,
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
    meters = {m.code: m for m in Meter.objects.all()}
    try:
        return _record(events, meters=meters, now=now)
    except IntegrityError:
        # Portable path: event ids are global but locks are per account, so a
        # batch for another account may have inserted one of these ids since
        # the check. Once it has committed, a second pass sees it as a
        # duplicate or a conflict. (The PostgreSQL path waits for that batch
        # inside its INSERT ... ON CONFLICT instead.)
        return _record(events, meters=meters, now=now)


def _fast_path() -> bool:
    return PG_FAST_PATH and connection.vendor == "postgresql"


def _record(
    events: Sequence[UsageEventInput], *, meters: dict[str, Meter], now: datetime
) -> UsageRecordResult:
    with transaction.atomic():
        # One statement finds the accounts named by external id and locks
        # every account of the batch, in pk order.
        locked = lock_accounts(
            (e.account.pk for e in events if isinstance(e.account, Account)),
            external_ids=(e.account for e in events if isinstance(e.account, str)),
        )
        accounts = {a.external_id: a for a in locked.values() if a.external_id}
        parsed, errors = _validate_shape(
            events, meters=meters, accounts=accounts, now=now
        )
        closed = set(
            ClosedPeriod.objects.filter(
                period_start__in={period_of(p.timestamp).start for p in parsed}
            ).values_list("period_start", flat=True)
        )
        unique_ids = len({p.event_id for p in parsed}) == len(parsed)
        if _fast_path() and unique_ids and not errors:
            new, duplicates = _insert_first(parsed, errors, closed=closed, now=now)
        else:
            new, duplicates = _check_then_insert(parsed, errors, closed=closed, now=now)
        if new:
            _write(new, now=now, accounts=list(locked.values()))
    return UsageRecordResult(accepted=len(new), duplicates=duplicates)


def _classify(
    parsed: list[_Parsed],
    errors: list[dict[str, Any]],
    *,
    seen: dict[str, str],
    closed: set[Any],
    levels: dict[tuple[int, int], int],
) -> tuple[list[_Parsed], int]:
    """The per-event checks after the shape, in batch order; raises on errors.

    ``seen`` maps ids recorded before this batch to their payload hash;
    ``levels`` holds gauge levels before this batch.
    """
    seen = dict(seen)
    new: list[_Parsed] = []
    duplicates = 0
    for p in parsed:
        # A resend of a recorded event stays a harmless duplicate even
        # after its period closed, so retries never turn into errors.
        known = seen.get(p.event_id)
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
        if period_of(p.timestamp).start in closed:
            errors.append(
                _error(
                    p.index,
                    "period_closed",
                    "That billing period is already closed.",
                )
            )
            continue
        seen[p.event_id] = p.payload_hash
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
            levels[key] = level
        new.append(p)
    if errors:
        raise UsageBatchRejected(
            "Some events are invalid; nothing was recorded.",
            details=sorted(errors, key=lambda e: e["index"]),
        )
    return new, duplicates


def _gauge_levels(parsed: Iterable[_Parsed]) -> dict[tuple[int, int], int]:
    """Current levels of the batch's gauge meters (accounts are locked)."""
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


def _check_then_insert(
    parsed: list[_Parsed],
    errors: list[dict[str, Any]],
    *,
    closed: set[Any],
    now: datetime,
) -> tuple[list[_Parsed], int]:
    """Portable path: read the known ids, check, then one bulk insert."""
    seen = dict(
        UsageEvent.objects.filter(
            event_id__in=[p.event_id for p in parsed]
        ).values_list("event_id", "payload_hash")
    )
    new, duplicates = _classify(
        parsed, errors, seen=seen, closed=closed, levels=_gauge_levels(parsed)
    )
    UsageEvent.objects.bulk_create(
        [
            UsageEvent(
                event_id=p.event_id,
                account_id=p.account_id,
                meter_id=p.meter.pk,
                quantity=p.quantity,
                timestamp=p.timestamp,
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
    closed: set[Any],
    now: datetime,
) -> tuple[list[_Parsed], int]:
    """PostgreSQL path for a batch of distinct ids: insert, then check.

    One ``INSERT ... SELECT FROM unnest ... ON CONFLICT DO NOTHING`` tells
    which ids are new; only the others are read back to tell duplicates from
    conflicts. Any error raises, and the rollback removes the inserted rows.
    Rows go in id order, so two batches sharing ids wait on each other's
    unique-index entries in one order and cannot deadlock; a concurrent
    batch's id counts as seen once that batch commits (as on the retry).
    """
    rows = sorted(parsed, key=lambda p: p.event_id)
    table = UsageEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (event_id, account_id, meter_id, quantity,"
            " timestamp, received_at, properties, payload_hash)"
            " SELECT e.id, e.account_id, e.meter_id, e.quantity, e.ts, %s,"
            " e.properties::jsonb, e.hash"
            " FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::bigint[],"
            " %s::timestamptz[], %s::text[], %s::text[])"
            " AS e(id, account_id, meter_id, quantity, ts, properties, hash)"
            " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            [
                now,
                [p.event_id for p in rows],
                [p.account_id for p in rows],
                [p.meter.pk for p in rows],
                [p.quantity for p in rows],
                [p.timestamp for p in rows],
                [json.dumps(p.properties) for p in rows],
                [p.payload_hash for p in rows],
            ],
        )
        inserted = {row[0] for row in cursor.fetchall()}
    seen: dict[str, str] = {}
    if len(inserted) < len(parsed):
        seen = dict(
            UsageEvent.objects.filter(
                event_id__in=[p.event_id for p in parsed if p.event_id not in inserted]
            ).values_list("event_id", "payload_hash")
        )
    return _classify(
        parsed, errors, seen=seen, closed=closed, levels=_gauge_levels(parsed)
    )


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


def _write(new: list[_Parsed], *, now: datetime, accounts: list[Account]) -> None:
    """Counters, gauge levels, top-up burn and alerts for the new events."""
    counter_deltas: dict[tuple[int, int, Any], int] = defaultdict(int)
    gauge_deltas: dict[tuple[int, int], int] = defaultdict(int)
    for p in new:
        if p.meter.kind == Meter.Kind.COUNTER:
            counter_deltas[
                (p.account_id, p.meter.pk, period_of(p.timestamp).start)
            ] += p.quantity
        else:
            gauge_deltas[(p.account_id, p.meter.pk)] += p.quantity
    _add_to_counters(counter_deltas)
    _add_to_gauges(gauge_deltas, now=now)
    # burn_top_ups changes nothing where no live grant has a balance left:
    # one query finds the (account, meter) pairs that have one.
    with_top_ups = (
        set(
            Grant.objects.active_at(now)
            .filter(
                account_id__in=any_of({a for a, _, _ in counter_deltas}),
                meter_id__in={m for _, m, _ in counter_deltas},
                consumed__lt=F("amount"),
            )
            .values_list("account_id", "meter_id")
            .distinct()
        )
        if counter_deltas
        else set()
    )
    groups: dict[tuple[Any, int], set[int]] = defaultdict(set)
    for account_id, meter_id, period_start in counter_deltas:
        if (account_id, meter_id) in with_top_ups:
            groups[(period_start, meter_id)].add(account_id)
    for (period_start, meter_id), account_ids in groups.items():
        burn_top_ups(
            account_ids=account_ids,
            meter_id=meter_id,
            period=Period(period_start),
            at=now,
        )
    evaluate_usage_alerts(accounts=accounts, at=now)


def _add_to_counters(deltas: dict[tuple[int, int, Any], int]) -> None:
    """One upsert: used = used + delta (an atomic UPDATE, not read-then-write)."""
    if not deltas:
        return
    table = UsageCounter._meta.db_table
    upsert = (
        " ON CONFLICT (account_id, meter_id, period_start)"
        f" DO UPDATE SET used = {table}.used + EXCLUDED.used"
    )
    keys = sorted(deltas)
    with connection.cursor() as cursor:
        if _fast_path():
            cursor.execute(
                f"INSERT INTO {table}"
                " (account_id, meter_id, period_start, used, covered_by_grants)"
                " SELECT a, m, p, d, 0 FROM unnest(%s::bigint[], %s::bigint[],"
                " %s::date[], %s::bigint[]) AS c(a, m, p, d)" + upsert,
                [
                    [k[0] for k in keys],
                    [k[1] for k in keys],
                    [k[2] for k in keys],
                    [deltas[k] for k in keys],
                ],
            )
            return
        adapt = connection.ops.adapt_datefield_value
        params: list[Any] = []
        for account_id, meter_id, period_start in keys:
            params += [account_id, meter_id, adapt(period_start)]
            params.append(deltas[(account_id, meter_id, period_start)])
        rows = ", ".join(["(%s, %s, %s, %s, 0)"] * len(keys))
        cursor.execute(
            f"INSERT INTO {table}"
            " (account_id, meter_id, period_start, used, covered_by_grants)"
            f" VALUES {rows}" + upsert,
            params,
        )


def _add_to_gauges(deltas: dict[tuple[int, int], int], *, now: datetime) -> None:
    """Create missing rows at 0, then add every delta in one UPDATE.

    Not an INSERT ... ON CONFLICT upsert: CHECK (level >= 0) is tested on the
    proposed insert row before the conflict is seen, so a negative delta on an
    existing level would fail. The batch was validated not to go below zero.
    """
    if not deltas:
        return
    keys = sorted(deltas)
    GaugeLevel.objects.bulk_create(
        [
            GaugeLevel(
                account_id=account_id, meter_id=meter_id, level=0, updated_at=now
            )
            for account_id, meter_id in keys
        ],
        ignore_conflicts=True,
    )
    if _fast_path():
        table = GaugeLevel._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} g SET level = g.level + d.delta, updated_at = %s"
                " FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[])"
                " AS d(account_id, meter_id, delta)"
                " WHERE g.account_id = d.account_id AND g.meter_id = d.meter_id",
                [
                    now,
                    [k[0] for k in keys],
                    [k[1] for k in keys],
                    [deltas[k] for k in keys],
                ],
            )
        return
    by_meter: dict[int, dict[int, int]] = defaultdict(dict)
    for (account_id, meter_id), delta in deltas.items():
        by_meter[meter_id][account_id] = delta
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


def burn_top_ups(
    *, account_ids: Iterable[int], meter_id: int, period: Period, at: datetime
) -> None:
    """Cover a counter's usage past the plan allowance from top-up grants.

    Earliest expiry burns first; what no live grant covers stays excess.
    Callers hold the accounts' locks. Also run after a top-up is bought, so a
    pack bought while over the limit covers the excess already used.
    """
    account_ids = list(account_ids)
    counters = {
        c.account_id: c
        for c in UsageCounter.objects.filter(
            account_id__in=account_ids, meter_id=meter_id, period_start=period.start
        ).select_related("account")
    }
    if not counters:
        return
    allowances = dict(
        PlanAllowance.objects.filter(
            meter_id=meter_id,
            plan_id__in={c.account.plan_id for c in counters.values()},
        ).values_list("plan_id", "amount")
    )
    uncovered = {
        account_id: c.used - allowances.get(c.account.plan_id, 0) - c.covered_by_grants
        for account_id, c in counters.items()
    }
    needy = [account_id for account_id, amount in uncovered.items() if amount > 0]
    if not needy:
        return
    grants = (
        Grant.objects.active_at(at)
        .filter(account_id__in=needy, meter_id=meter_id, consumed__lt=F("amount"))
        .order_by(F("expires_at").asc(nulls_last=True), "pk")
    )
    for grant in grants:
        take = min(grant.balance, uncovered[grant.account_id])
        if take <= 0:
            continue
        Grant.objects.filter(pk=grant.pk).update(consumed=F("consumed") + take)
        UsageCounter.objects.filter(pk=counters[grant.account_id].pk).update(
            covered_by_grants=F("covered_by_grants") + take
        )
        uncovered[grant.account_id] -= take
