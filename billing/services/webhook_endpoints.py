"""Register webhook endpoints, rotate their secrets, enable them again.

The signing secret is returned once, on creation and on rotation; after a
rotation the old secret signs alongside the new one for a day, so receivers
can switch without losing a delivery. Each power needs the staff permission
on endpoints, checked here.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User

from ..errors import InvalidRequest
from ..models import (
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from ..models.webhooks import new_signing_secret
from ..permissions import ADD_WEBHOOK_ENDPOINT, MANAGE_WEBHOOKS, check_staff_power
from ..webhook_transport import check_destination
from .webhook_deliveries import resend_deliveries
from .webhook_events import fan_out

ROTATION_OVERLAP = timedelta(hours=24)
REPLAY_LIMIT = 10_000  # events a replay sends at most; replay again for more


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    endpoint: WebhookEndpoint
    secret: str  # shown once


def clean_endpoint(*, url: str, event_types: Iterable[str]) -> tuple[str, list[str]]:
    """The URL and event types as stored, or a clear error."""
    url = url.strip()
    check_destination(url)
    known = set(EventType.values)
    types = sorted(set(event_types))
    unknown = [t for t in types if t not in known]
    if unknown:
        raise InvalidRequest(f"Unknown event types: {', '.join(unknown)}.")
    if not types:
        raise InvalidRequest("Choose at least one event type.")
    return url, types


def create_endpoint(
    *,
    url: str,
    event_types: Iterable[str],
    actor: User,
    description: str = "",
    is_active: bool = True,
) -> IssuedSecret:
    """Register an endpoint with a new secret; events from now on reach it."""
    check_staff_power(actor=actor, permission=ADD_WEBHOOK_ENDPOINT)
    url, types = clean_endpoint(url=url, event_types=event_types)
    endpoint = WebhookEndpoint.objects.create(
        url=url,
        event_types=types,
        description=description.strip()[:200],
        is_active=is_active,
        secret=new_signing_secret(),
        created_by=actor,
    )
    return IssuedSecret(endpoint=endpoint, secret=endpoint.secret)


def update_endpoint(
    *,
    endpoint: WebhookEndpoint,
    url: str,
    event_types: Iterable[str],
    description: str,
    is_active: bool,
    actor: User,
) -> WebhookEndpoint:
    check_staff_power(actor=actor, permission=MANAGE_WEBHOOKS)
    switched_on = is_active and not endpoint.is_active
    endpoint.url, endpoint.event_types = clean_endpoint(
        url=url, event_types=event_types
    )
    endpoint.description = description.strip()[:200]
    endpoint.is_active = is_active
    with transaction.atomic():
        endpoint.save(update_fields=["url", "event_types", "description", "is_active"])
        if switched_on and endpoint.disabled_at is None:
            # What waited while it was off goes out now (in-flight attempts
            # keep their lease).
            waiting = list(
                WebhookDelivery.objects.filter(
                    endpoint=endpoint,
                    status__in=[
                        WebhookDelivery.Status.PENDING,
                        WebhookDelivery.Status.HELD,
                    ],
                ).select_related("endpoint")
            )
            resend_deliveries(deliveries=waiting, at=timezone.now())
    return endpoint


def rotate_secret(
    *, endpoint: WebhookEndpoint, actor: User, at: datetime | None = None
) -> IssuedSecret:
    """A new secret; the current one keeps signing for ``ROTATION_OVERLAP``."""
    check_staff_power(actor=actor, permission=MANAGE_WEBHOOKS)
    at = at or timezone.now()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = at + ROTATION_OVERLAP
        endpoint.secret = new_signing_secret()
        endpoint.save(
            update_fields=["secret", "previous_secret", "previous_secret_expires_at"]
        )
    return IssuedSecret(endpoint=endpoint, secret=endpoint.secret)


def enable_endpoint(
    *, endpoint: WebhookEndpoint, actor: User, at: datetime | None = None
) -> int:
    """Lift a disable for failing and resend what it held and what failed.

    Returns the number of deliveries sent again.
    """
    check_staff_power(actor=actor, permission=MANAGE_WEBHOOKS)
    at = at or timezone.now()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            disabled_at=None, disabled_reason="", is_active=True
        )
        endpoint.refresh_from_db()
        return resend_undelivered(endpoint=endpoint, actor=actor, at=at)


def resend_undelivered(
    *, endpoint: WebhookEndpoint, actor: User, at: datetime | None = None
) -> int:
    """Send again every delivery of the endpoint that is held or failed."""
    check_staff_power(actor=actor, permission=MANAGE_WEBHOOKS)
    waiting = list(
        WebhookDelivery.objects.filter(
            endpoint=endpoint,
            status__in=[WebhookDelivery.Status.HELD, WebhookDelivery.Status.FAILED],
        ).select_related("endpoint")
    )
    return resend_deliveries(deliveries=waiting, at=at or timezone.now())


def resend(
    *,
    deliveries: Iterable[WebhookDelivery],
    actor: User,
    at: datetime | None = None,
) -> int:
    check_staff_power(actor=actor, permission=MANAGE_WEBHOOKS)
    return resend_deliveries(deliveries=list(deliveries), at=at or timezone.now())


def replay_events(
    *,
    endpoint: WebhookEndpoint,
    since: datetime,
    actor: User,
    at: datetime | None = None,
) -> int:
    """Send the endpoint the events of its types recorded since ``since``
    that it has not had yet: a new endpoint can catch up on past changes."""
    check_staff_power(actor=actor, permission=MANAGE_WEBHOOKS)
    if not endpoint.is_active:
        raise InvalidRequest("Switch the endpoint on (Active) first, then replay.")
    events = list(
        WebhookEvent.objects.filter(
            created_at__gte=since, type__in=endpoint.event_types
        )
        .exclude(deliveries__endpoint=endpoint)  # what it has keeps its delivery
        .order_by("pk")[:REPLAY_LIMIT]
    )
    with transaction.atomic():
        return len(
            fan_out(events=events, at=at or timezone.now(), endpoints=[endpoint])
        )
