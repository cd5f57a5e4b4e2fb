"""A usage batch parsed and checked: shapes, ids, closed periods, limits.

Pure where it can be: the per-event checks, the error list (every bad index
with its code) and the 10^18 and negative-level limits, given the levels and
totals the writes read.
"""

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..db import any_of
from ..errors import UsageBatchRejected
from ..models import (
    Account,
    ClosedPeriod,
    GaugeLevel,
    Meter,
    UsageCounter,
    UsageEvent,
)
from ..units import (
    FUTURE_TOLERANCE,
    MAX_EVENT_QUANTITY,
    MAX_USAGE_TOTAL,
    Period,
    period_of,
)

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
class ParsedEvent:
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


def event_error(index: int, code: str, message: str) -> dict[str, Any]:
    return {"index": index, "code": code, "message": message}


class _Rejected(Exception):
    """One event's problem; the batch collects them with their index."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _account_of(event: UsageEventInput, accounts: dict[str, int]) -> tuple[int, str]:
    """The account's pk and how the caller named it (for the payload hash)."""
    if isinstance(event.account, Account):
        return event.account.pk, event.account.external_id or f"pk:{event.account.pk}"
    account_id = accounts.get(event.account)
    if account_id is None:
        raise _Rejected("unknown_account", f"No account {event.account!r}.")
    return account_id, event.account


def _meter_of(event: UsageEventInput, meters: dict[str, Meter]) -> Meter:
    meter = meters.get(event.meter)
    if meter is None:
        raise _Rejected("unknown_meter", f"No meter {event.meter!r}.")
    if not meter.is_event_based:
        raise _Rejected(
            "meter_not_event_based",
            f"{meter.code} counts allocations; use the job-slot calls.",
        )
    return meter


def _quantity_of(event: UsageEventInput, meter: Meter) -> int:
    """A non-zero integer within 10^15; only gauges go down."""
    quantity = event.quantity
    if (
        not isinstance(quantity, int)
        or isinstance(quantity, bool)
        or quantity == 0
        or abs(quantity) > MAX_EVENT_QUANTITY
        or (quantity < 0 and meter.kind == Meter.Kind.COUNTER)
    ):
        raise _Rejected(
            "invalid_quantity",
            "quantity must be a non-zero integer of at most 10^15"
            + ("" if meter.kind == Meter.Kind.GAUGE else ", and positive")
            + ".",
        )
    return quantity


def _timestamp_of(event: UsageEventInput, now: datetime) -> datetime:
    """The event's instant in UTC (days and periods are UTC: an offset the
    platform sent is only a way of writing the instant); none means now."""
    timestamp = event.timestamp or now
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    timestamp = timestamp.astimezone(UTC)
    if timestamp > now + FUTURE_TOLERANCE:
        raise _Rejected("future_timestamp", "timestamp is more than 5 minutes ahead.")
    return timestamp


def _parse_event(
    index: int,
    event: UsageEventInput,
    *,
    meters: dict[str, Meter],
    accounts: dict[str, int],
    now: datetime,
) -> ParsedEvent:
    if not isinstance(event.id, str) or not 1 <= len(event.id) <= 128:
        raise _Rejected("invalid_request", "id must be 1-128 characters.")
    account_id, account_ref = _account_of(event, accounts)
    meter = _meter_of(event, meters)
    return ParsedEvent(
        index=index,
        event_id=event.id,
        account_id=account_id,
        meter=meter,
        quantity=_quantity_of(event, meter),
        timestamp=_timestamp_of(event, now),
        properties=event.properties or {},
        payload_hash=_payload_hash(event, account_ref),
    )


def parse_events(
    events: Sequence[UsageEventInput],
    *,
    meters: dict[str, Meter],
    accounts: dict[str, int],
    at: datetime,
) -> tuple[list[ParsedEvent], list[dict[str, Any]]]:
    """Checks that need no lock: ids, accounts, meters, quantities, timestamps.

    Every bad event is reported with its index, not just the first.
    """
    parsed: list[ParsedEvent] = []
    errors: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        try:
            parsed.append(
                _parse_event(index, event, meters=meters, accounts=accounts, now=at)
            )
        except _Rejected as rejected:
            errors.append(event_error(index, rejected.code, rejected.message))
    return parsed, errors


def closed_periods(starts: set[Any], now: datetime) -> set[Any]:
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
class Window:
    """Which instants still take usage: not before the previous calendar
    month, and not in a closed period (storage deltas there move forward)."""

    floor: datetime
    closed: set[Any]


def sort_out(
    parsed: list[ParsedEvent],
    errors: list[dict[str, Any]],
    *,
    seen: dict[tuple[int, str], str],
    window: Window,
) -> tuple[list[ParsedEvent], int]:
    """Split the batch into new events and duplicates, in batch order.

    ``seen`` maps (account, id) recorded before this batch to the payload
    hash. Conflicts and closed periods are appended to ``errors``.
    """
    seen = dict(seen)
    new: list[ParsedEvent] = []
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
                    event_error(
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
                event_error(p.index, "period_closed", "That billing period is closed.")
            )
            continue
        move_out_of_closed_period(p, window)
        seen[p.key] = p.payload_hash
        new.append(p)
    return new, duplicates


def limit_errors(
    new: list[ParsedEvent],
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
                    event_error(
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
            key3 = counter_key(p)
            total = counters.get(key3, 0) + p.quantity
            if total > MAX_USAGE_TOTAL:
                errors.append(_overflow(p))
                continue
            counters[key3] = total
    return errors


def reject(errors: list[dict[str, Any]]) -> None:
    if errors:
        raise UsageBatchRejected(
            "Some events are invalid; nothing was recorded.",
            details=sorted(errors, key=lambda e: e["index"]),
        )


def counter_key(p: ParsedEvent) -> tuple[int, int, Any]:
    return (p.account_id, p.meter.pk, p.period.start)


def _overflow(p: ParsedEvent) -> dict[str, Any]:
    return event_error(
        p.index,
        "usage_overflow",
        f"This event takes {p.meter.code} past 10^18 {p.meter.unit}s;"
        " nothing was recorded.",
    )


def gauge_levels(parsed: Iterable[ParsedEvent]) -> dict[tuple[int, int], int]:
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


def counter_totals(parsed: Iterable[ParsedEvent]) -> dict[tuple[int, int, Any], int]:
    """Period totals of the batch's counters."""
    keys = {counter_key(p) for p in parsed if p.meter.kind == Meter.Kind.COUNTER}
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


def seen_events(pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], str]:
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


def move_out_of_closed_period(p: ParsedEvent, window: "Window") -> None:
    """A storage delta dated in a closed period counts from the open
    period's first instant: the level stays true, the closed bill does not
    change. (A counter event there is refused by ``sort_out``.)"""
    if (
        p.period.start in window.closed
        and p.meter.kind == Meter.Kind.GAUGE
        and p.reported_timestamp is None
    ):
        p.reported_timestamp = p.timestamp
        p.timestamp = p.period.ends_at
        p.period = p.period.next()
