"""Write webhook events to the outbox, in the transaction of their cause.

Each event gets one delivery per active endpoint that wants its type; the
deliveries are queued with the write (``enqueue_with_write``), so a rolled
back change sends nothing. Events that must be told once (a quota state in
a period, a purchase's expiry) carry a dedupe key: of several writers, one
inserts the event and the others do nothing. Payloads name the account by
its ``external_id`` (docs/webhooks.md).
"""

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from ..models import (
    Account,
    ChargeRecord,
    EventType,
    Purchase,
    QuotaNotice,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from ..selectors import QuotaStatus, State

type Data = dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventSpec:
    type: str
    account_id: int | None
    occurred_at: datetime
    data: Data = field(default_factory=dict)
    dedupe_key: str | None = None


def record_events(*, specs: Sequence[EventSpec]) -> list[WebhookEvent]:
    """Insert the events not recorded before, and their deliveries.

    One ``INSERT ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING``: an
    event without a key is always new. The account's ``external_id`` joins
    the payload inside the statement. Returns the new events (their pk,
    id, type and account: what the deliveries need).
    """
    if not specs:
        return []
    # Keys in one order, so two writers of the same keys cannot deadlock.
    specs = sorted(specs, key=lambda s: (s.dedupe_key is None, s.dedupe_key or ""))
    # Part of the caller's transaction (no savepoint: a failure here rolls
    # the change back, which is the point of an outbox).
    now = timezone.now()
    table = WebhookEvent._meta.db_table
    rows, params = [], []
    for spec in specs:
        rows.append(f"(%s, %s, %s, %s, {_WITH_ACCOUNT}, %s, %s)")
        params += [
            f"evt_{uuid.uuid4().hex}",
            spec.type,
            spec.account_id,
            connection.ops.adapt_datetimefield_value(spec.occurred_at),
            json.dumps(spec.data),
            spec.account_id,
            spec.dedupe_key,
            connection.ops.adapt_datetimefield_value(now),
        ]
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (event_id, type, account_id, occurred_at, data,"
            f" dedupe_key, created_at) VALUES {', '.join(rows)}"
            " ON CONFLICT (dedupe_key) DO NOTHING"
            " RETURNING id, event_id, type, account_id",
            params,
        )
        events = [
            WebhookEvent(pk=pk, event_id=event_id, type=type, account_id=account_id)
            for pk, event_id, type, account_id in sorted(cursor.fetchall())
        ]
        fan_out(events=events, at=now, fresh=True)
    return events


_ACCOUNT_REFERENCE = f"(SELECT external_id FROM {Account._meta.db_table} WHERE id = %s)"


class _WithAccount:
    """The payload with ``account`` (the external id, or null) set in SQL."""

    def __str__(self) -> str:
        if connection.vendor == "postgresql":
            return (
                "jsonb_set(%s::jsonb, '{account}',"
                f" coalesce(to_jsonb({_ACCOUNT_REFERENCE}), 'null'::jsonb))"
            )
        return f"json_set(%s, '$.account', {_ACCOUNT_REFERENCE})"


_WITH_ACCOUNT = _WithAccount()


def fan_out(
    *,
    events: Sequence[WebhookEvent],
    at: datetime,
    endpoints: Iterable[WebhookEndpoint] | None = None,
    fresh: bool = False,
) -> list[WebhookDelivery]:
    """One delivery per (event, endpoint wanting its type), queued with the
    write; an endpoint disabled for failing holds its deliveries until
    staff enable it again. An existing (event, endpoint) pair is kept
    (``fresh``: the events were just inserted, none can exist)."""
    from ..tasks import deliver_webhook, enqueue_with_write

    if not events:
        return []
    if endpoints is None:
        endpoints = WebhookEndpoint.objects.filter(is_active=True)
    deliveries = _deliveries(events, list(endpoints), now=at)
    if deliveries and not fresh:
        deliveries = _not_yet_made(deliveries)
    created = WebhookDelivery.objects.bulk_create(deliveries)
    for delivery in created:
        if delivery.status == WebhookDelivery.Status.PENDING:
            enqueue_with_write(deliver_webhook, delivery_id=delivery.pk)
    return created


def _deliveries(
    events: Sequence[WebhookEvent], endpoints: list[WebhookEndpoint], *, now: datetime
) -> list[WebhookDelivery]:
    held, pending = WebhookDelivery.Status.HELD, WebhookDelivery.Status.PENDING
    return [
        WebhookDelivery(
            event=event,
            endpoint=endpoint,
            status=held if endpoint.disabled_at else pending,
            next_attempt_at=now,
            created_at=now,
            window_started_at=now,
        )
        for event in events
        for endpoint in endpoints
        if event.type in endpoint.event_types
    ]


def _not_yet_made(deliveries: list[WebhookDelivery]) -> list[WebhookDelivery]:
    existing = set(
        WebhookDelivery.objects.filter(
            event__in={d.event.pk for d in deliveries},
            endpoint__in={d.endpoint.pk for d in deliveries},
        ).values_list("event_id", "endpoint_id")
    )
    return [d for d in deliveries if (d.event.pk, d.endpoint.pk) not in existing]


# -- Quota events ------------------------------------------------------------

_ONCE_A_PERIOD = {
    State.WARNING: EventType.QUOTA_WARNING,
    State.EXCEEDED: EventType.QUOTA_EXCEEDED,
    State.OVERAGE: EventType.QUOTA_OVERAGE_STARTED,
    State.BLOCKED: EventType.QUOTA_BLOCKED,
}
_OVER_LIMIT = {State.EXCEEDED, State.OVERAGE, State.BLOCKED}


def quota_data(status: QuotaStatus) -> Data:
    data: Data = {
        "meter": status.meter.code,
        "unit": status.meter.unit,
        "period_start": status.period.start.isoformat(),
        "period_end": status.period.end.isoformat(),
        "state": str(status.state),
        "used": status.used,
        "limit": status.limit,
        "percent": status.percent,
    }
    if status.state in (State.OVERAGE, State.BLOCKED) and status.consent is not None:
        data["overage"] = {
            "cap_cents": status.cap_cents,
            "accrued_cents": status.accrued_cents,
            # What the close will charge so far: the cap bounds it.
            "billable_cents": min(status.accrued_cents, status.cap_cents or 0),
        }
    return data


def record_quota_changes(
    *, statuses: Sequence[tuple[int, QuotaStatus]], at: datetime
) -> list[WebhookEvent]:
    """The quota events the evaluated states call for.

    ``quota.warning``, ``.exceeded``, ``.overage_started`` and ``.blocked``
    once per (account, meter, period); ``quota.resolved`` at each return to
    ok or warning of a meter last seen over its limit (``QuotaNotice``,
    flipped by a conditional UPDATE, so two evaluators tell it once).
    """
    specs = [
        EventSpec(
            type=_ONCE_A_PERIOD[status.state],
            account_id=account_id,
            occurred_at=at,
            data=quota_data(status),
            dedupe_key=(
                f"{_ONCE_A_PERIOD[status.state]}:{account_id}:{status.meter.pk}:"
                f"{status.period.start:%Y-%m}"
            ),
        )
        for account_id, status in statuses
        if status.state in _ONCE_A_PERIOD
    ]
    with transaction.atomic(savepoint=False):
        _mark_over_limit([(a, s) for a, s in statuses if s.state in _OVER_LIMIT], at=at)
        specs += _resolutions(
            [(a, s) for a, s in statuses if s.state not in _OVER_LIMIT], at=at
        )
        return record_events(specs=specs)


def _mark_over_limit(over: list[tuple[int, QuotaStatus]], *, at: datetime) -> None:
    """Remember the meters seen over their limit (one upsert that writes
    nothing where the notice already says so)."""
    if not over:
        return
    table = QuotaNotice._meta.db_table
    rows = sorted({(a, s.meter.pk): str(s.state) for a, s in over}.items())
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    changed_at = connection.ops.adapt_datetimefield_value(at)
    params = [v for (a, m), state in rows for v in (a, m, True, state, changed_at)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS n (account_id, meter_id, over_limit, state,"
            f" changed_at) VALUES {values} ON CONFLICT (account_id, meter_id)"
            " DO UPDATE SET over_limit = EXCLUDED.over_limit,"
            " state = EXCLUDED.state, changed_at = EXCLUDED.changed_at"
            " WHERE NOT n.over_limit OR n.state <> EXCLUDED.state",
            params,
        )


def _resolutions(
    under: list[tuple[int, QuotaStatus]], *, at: datetime
) -> list[EventSpec]:
    """``quota.resolved`` for each meter back under its limit whose notice
    this statement flips: one conditional UPDATE, so of two evaluators one
    tells. The notice keeps the state it was told (``previous_state``)."""
    if not under:
        return []
    table = QuotaNotice._meta.db_table
    by_pair = {(a, s.meter.pk): s for a, s in under}
    pairs = sorted(by_pair)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET over_limit = %s, changed_at = %s"
            " WHERE over_limit AND (account_id, meter_id) IN"
            f" (VALUES {', '.join(['(%s, %s)'] * len(pairs))})"
            " RETURNING account_id, meter_id, state",
            [False, connection.ops.adapt_datetimefield_value(at)]
            + [v for pair in pairs for v in pair],
        )
        flipped = sorted(cursor.fetchall())
    return [
        EventSpec(
            type=EventType.QUOTA_RESOLVED,
            account_id=account_id,
            occurred_at=at,
            data=quota_data(by_pair[(account_id, meter_id)])
            | {"previous_state": previous},
        )
        for account_id, meter_id, previous in flipped
    ]


def over_limit_account_ids() -> set[int]:
    """Accounts with a meter last seen over its limit: the period rollover
    evaluates them, as a new month resets counters without any write."""
    return set(
        QuotaNotice.objects.filter(over_limit=True).values_list("account_id", flat=True)
    )


def over_limit_pairs(*, pairs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """The (account, meter) pairs of ``pairs`` last seen over their limit."""
    found = QuotaNotice.objects.filter(
        over_limit=True,
        account_id__in={a for a, _ in pairs},
        meter_id__in={m for _, m in pairs},
    ).values_list("account_id", "meter_id")
    return set(found) & pairs


# -- Purchases, charges, slots, periods --------------------------------------


def purchase_data(purchase: Purchase) -> Data:
    return {
        "purchase": {
            "id": purchase.pk,
            "pack": purchase.pack.code,
            "name": purchase.pack.name,
            "kind": purchase.kind,
            "subscription": purchase.pack.is_subscription,
            "starts_at": _iso(purchase.starts_at),
            "expires_at": _iso(purchase.expires_at),
            "price_cents": purchase.price_cents,
            "renewal_of": purchase.renewal_of_id,
            "grants": [
                {"meter": line.meter.code, "amount": line.amount}
                for line in purchase.pack.allowances.all()
            ],
        }
    }


def purchase_event(
    *, type: str, purchase: Purchase, at: datetime, dedupe_key: str | None = None
) -> EventSpec:
    return EventSpec(
        type=type,
        account_id=purchase.account_id,
        occurred_at=at,
        data=purchase_data(purchase),
        dedupe_key=dedupe_key,
    )


def charge_data(charge: ChargeRecord) -> Data:
    return {
        "id": charge.pk,
        "kind": charge.kind,
        "amount_cents": charge.amount_cents,
        "currency": charge.currency,
        "status": charge.status,
    }


def refund_event(
    *,
    original: ChargeRecord,
    refund: ChargeRecord | None,
    amount_cents: int,
    reason: str,
    at: datetime,
) -> EventSpec:
    """A refund paid back (``refund``: its negative ledger row), or a pending
    charge voided (``refund`` None: nothing had been collected)."""
    return EventSpec(
        type=EventType.CHARGE_REFUNDED,
        account_id=original.account_id,
        occurred_at=at,
        data={
            "charge": charge_data(original),
            "refunded_cents": amount_cents if refund is not None else 0,
            "voided": refund is None,
            "refund": charge_data(refund) if refund is not None else None,
            "reason": reason,
            "purchase_id": original.purchase_id,
        },
        dedupe_key=f"charge.refunded:{original.pk}",
    )


def slot_event(
    *,
    type: str,
    account_id: int,
    job_refs: Sequence[str],
    limit: int,
    active: int,
    cause: str,
    at: datetime,
) -> EventSpec:
    return EventSpec(
        type=type,
        account_id=account_id,
        occurred_at=at,
        data={
            "job_ids": list(job_refs),
            "used": active,
            "limit": limit,
            "cause": cause,
        },
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
