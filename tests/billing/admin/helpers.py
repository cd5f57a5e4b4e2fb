"""Helpers shared by the admin tests: URLs, purchases, actions, webhook rows."""

from datetime import UTC, datetime, timedelta
from itertools import count

import time_machine
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from billing.models import (
    Account,
    EventType,
    Pack,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from billing.selectors import account_quotas
from billing.services.grants import create_adjustment_grant
from billing.services.packs import purchase_pack
from billing.units import GB
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import (
    PackFactory,
    WebhookEndpointFactory,
    meter,
    owner_of,
    personal_account,
)

# The populated fixture reads the clock many times; mid-month, they all
# fall in one day and one period.
MID_APRIL = datetime(2026, 4, 16, 12, tzinfo=UTC)
AT = MID_APRIL  # when the webhook tests' events happen

# The documents' November: bought, refunded, then the statement issued.
NOV_5 = datetime(2026, 11, 5, 10, tzinfo=UTC)
NOV_10 = datetime(2026, 11, 10, 10, tzinfo=UTC)
DEC_2 = datetime(2026, 12, 2, 12, tzinfo=UTC)

Status = WebhookDelivery.Status
_ids = count(1)


def url(model: type, view: str, *args: object) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def buy(account: Account, code: str = "storage-50gb-once", key: str = "k-1"):
    pack = Pack.objects.get(code=code)
    return purchase_pack(
        account=account, pack=pack, actor=owner_of(account), idempotency_key=key
    )


def storage_charge(account, *, price_cents: int = 1000, key: str = "k", when=NOV_5):
    """The charge (and so the invoice) of a storage pack bought ``when``."""
    with time_machine.travel(when, tick=False):
        pack = PackFactory(
            lines={"storage": 10**9}, price_cents=price_cents, name="Storage pack"
        )
        return purchase_pack(
            account=account, pack=pack, actor=owner_of(account), idempotency_key=key
        ).charge


def storage_limit(account: Account) -> int:
    return next(
        q.limit for q in account_quotas(account=account) if q.meter.code == "storage"
    )


def history(obj: Model) -> list[str]:
    """The object's admin history (its LogEntry messages), oldest first."""
    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk)
    ).order_by("action_time", "pk")
    return [entry.get_change_message() for entry in entries]


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def run_action(client: Client, model: type, action: str, objs, **extra: str):
    """Post an admin action past its reason page, as a staff user would."""
    data = {
        "action": action,
        "_selected_action": [o.pk for o in objs],
        "confirm": "yes",
        **extra,
    }
    return client.post(url(model, "changelist"), data, follow=True)


def add_adjustment(account: Account) -> None:
    """A staff adjustment grant: one more grant and one audit entry."""
    create_adjustment_grant(
        account=account,
        meter=meter("storage"),
        amount=GB,
        reason="goodwill",
        actor=StaffUserFactory(perms=["billing.adjust_grant"]),
    )


def tool(endpoint: WebhookEndpoint, name: str) -> str:
    return reverse(f"admin:billing_webhookendpoint_{name}", args=[endpoint.pk])


def event(
    type: str = EventType.QUOTA_WARNING,
    *,
    external_id: str | None = None,
    created_at: datetime = AT,
) -> WebhookEvent:
    n = next(_ids)
    account = personal_account()
    account.external_id = external_id or f"user-{n}"
    account.save(update_fields=["external_id"])
    return WebhookEvent.objects.create(
        event_id=f"evt_test{n:04d}",
        type=type,
        account=account,
        occurred_at=created_at,
        created_at=created_at,
        data={"account": account.external_id, "meter": "bandwidth", "n": n},
    )


def delivery(
    endpoint: WebhookEndpoint | None = None,
    *,
    status: str = Status.FAILED,
    type: str = EventType.QUOTA_WARNING,
    attempts: int = 0,
) -> WebhookDelivery:
    made = WebhookDelivery.objects.create(
        event=event(type),
        endpoint=endpoint or WebhookEndpointFactory(),
        status=status,
        attempt_count=attempts,
        next_attempt_at=AT + timedelta(minutes=5) if status == Status.PENDING else None,
        last_status_code=500 if attempts else None,
    )
    for number in range(1, attempts + 1):
        WebhookAttempt.objects.create(
            delivery=made,
            number=number,
            started_at=AT,
            finished_at=AT + timedelta(milliseconds=120),
            status_code=500,
            duration_ms=120,
            response_excerpt="receiver says no",
        )
    return made
