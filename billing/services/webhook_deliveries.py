"""Deliver webhook events: one attempt at a time, under a lease.

An attempt starts by claiming the delivery with a conditional UPDATE that
moves its due time to the end of a lease: of several workers, one wins, and
if that worker dies mid-request the delivery is due again when the lease
expires (a deferred task and ``deliver_due_webhooks`` both find it). The
request runs outside any transaction; its outcome is recorded only if the
delivery is still on that attempt. Failures are retried on the schedule in
``BILLING_WEBHOOK_RETRY_SCHEDULE`` with jitter; an endpoint that failed for a
whole retry window is disabled and staff are told.
"""

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from ..models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from ..webhook_transport import Answer, post

ABANDONED = "The worker stopped before an answer was recorded (lease expired)."


@dataclass(frozen=True, slots=True)
class Claim:
    delivery: WebhookDelivery
    attempt: WebhookAttempt

    @property
    def round_number(self) -> int:
        """The attempt's number since the delivery was created or resent."""
        return self.attempt.number - self.delivery.attempts_before_resend


def event_body(event: WebhookEvent) -> bytes:
    """The request body: the same bytes on every attempt of an event."""
    return json.dumps(
        {
            "id": event.event_id,
            "type": event.type,
            "timestamp": event.occurred_at.astimezone(UTC)
            .isoformat()
            .replace("+00:00", "Z"),
            # jsonb keeps keys in its own order: the account comes first.
            "data": {"account": event.data.get("account")} | event.data,
        },
        separators=(",", ":"),
        sort_keys=False,
    ).encode()


def signed_headers(
    *, event: WebhookEvent, endpoint: WebhookEndpoint, body: bytes, at: datetime
) -> dict[str, str]:
    """Standard Webhooks headers; during a rotation both secrets sign."""
    sent_at = at.astimezone(UTC).replace(microsecond=0)
    signatures = [
        Webhook(secret).sign(
            msg_id=event.event_id, timestamp=sent_at, data=body.decode()
        )
        for secret in endpoint.signing_secrets(at=at)
    ]
    return {
        "Content-Type": "application/json",
        "User-Agent": "billing-webhooks/1",
        "webhook-id": event.event_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def max_attempts() -> int:
    return len(settings.BILLING_WEBHOOK_RETRY_SCHEDULE) + 1


def deliver_webhook(*, delivery_id: int) -> WebhookAttempt | None:
    """Make the delivery's due attempt, if it is due and nobody holds it.

    Returns the attempt made (None when there was nothing to do).
    """
    claim = _claim(delivery_id=delivery_id, now=timezone.now())
    if claim is None:
        return None
    if claim.round_number > max_attempts():
        # Only an abandoned last attempt gets here: it counts as failed.
        _record(claim, Answer(status_code=None, error=ABANDONED), now=timezone.now())
        return claim.attempt
    delivery = claim.delivery
    body = event_body(delivery.event)
    sent_at = timezone.now()
    headers = signed_headers(
        event=delivery.event, endpoint=delivery.endpoint, body=body, at=sent_at
    )
    answer = post(url=delivery.endpoint.url, body=body, headers=headers)
    _record(claim, answer, now=timezone.now())
    return claim.attempt


def _claim(*, delivery_id: int, now: datetime) -> Claim | None:
    """Take the delivery for one attempt under a lease (one UPDATE decides)."""
    from ..tasks import deliver_webhook as deliver_task
    from ..tasks import enqueue_later

    lease_end = now + timedelta(seconds=settings.BILLING_WEBHOOK_LEASE_SECONDS)
    delivery = (
        WebhookDelivery.objects.select_related("event", "endpoint")
        .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
        .first()
    )
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    if not endpoint.is_active or endpoint.disabled_at:
        return None
    with transaction.atomic():
        # The row's own columns only: PostgreSQL rechecks them on the row a
        # concurrent claimer just updated, so exactly one claim succeeds.
        taken = WebhookDelivery.objects.filter(
            pk=delivery_id,
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now,
        ).update(
            attempt_count=F("attempt_count") + 1,
            next_attempt_at=lease_end,
            lease_expires_at=lease_end,
        )
        if not taken:
            return None
        delivery.refresh_from_db(
            fields=["attempt_count", "attempts_before_resend", "window_started_at"]
        )
        WebhookAttempt.objects.filter(
            delivery=delivery, finished_at__isnull=True
        ).update(finished_at=now, error=ABANDONED)
        attempt = WebhookAttempt.objects.create(
            delivery=delivery, number=delivery.attempt_count, started_at=now
        )
        # Should this worker die, the delivery is taken again at the lease's
        # end: a deferred task comes back for it (with the database queue).
        enqueue_later(deliver_task, at=lease_end, delivery_id=delivery_id)
    return Claim(delivery=delivery, attempt=attempt)


def _record(claim: Claim, answer: Answer, *, now: datetime) -> None:
    """Store the attempt's outcome and what comes next, unless another
    worker has since taken the delivery (this attempt's lease expired)."""
    from ..tasks import deliver_webhook as deliver_task
    from ..tasks import enqueue_later

    delivery, attempt = claim.delivery, claim.attempt
    attempt.finished_at = now
    attempt.status_code = answer.status_code
    attempt.response_excerpt = answer.excerpt
    attempt.error = answer.error[:300]
    attempt.duration_ms = answer.duration_ms
    still_ours = WebhookDelivery.objects.filter(
        pk=delivery.pk,
        status=WebhookDelivery.Status.PENDING,
        attempt_count=attempt.number,
    )
    common = {
        "lease_expires_at": None,
        "last_status_code": answer.status_code,
        "last_error": attempt.error,
    }
    with transaction.atomic():
        attempt.save(
            update_fields=[
                "finished_at",
                "status_code",
                "response_excerpt",
                "error",
                "duration_ms",
            ]
        )
        if answer.succeeded:
            still_ours.update(
                status=WebhookDelivery.Status.DELIVERED,
                delivered_at=now,
                next_attempt_at=None,
                **common,
            )
            return
        if claim.round_number < max_attempts():
            due = now + retry_delay(claim.round_number)
            if still_ours.update(next_attempt_at=due, **common):
                enqueue_later(deliver_task, at=due, delivery_id=delivery.pk)
            return
        if still_ours.update(
            status=WebhookDelivery.Status.FAILED, next_attempt_at=None, **common
        ):
            disable_if_failing(
                endpoint=delivery.endpoint, since=delivery.window_started_at, at=now
            )


def retry_delay(failed_attempts: int) -> timedelta:
    """The wait after the n-th failed attempt, shortened by up to a fifth at
    random so that many deliveries failing together do not retry together."""
    schedule = settings.BILLING_WEBHOOK_RETRY_SCHEDULE
    seconds = schedule[min(failed_attempts, len(schedule)) - 1]
    return timedelta(seconds=seconds * random.uniform(0.8, 1.0))


def disable_if_failing(
    *, endpoint: WebhookEndpoint, since: datetime, at: datetime
) -> bool:
    """Disable an endpoint that answered no attempt with success since
    ``since`` (a delivery's whole retry window), hold its pending deliveries
    and tell staff. True when this call disabled it."""
    from ..tasks import email_staff_endpoint_disabled, enqueue_with_write

    answered = WebhookAttempt.objects.filter(
        delivery__endpoint=endpoint,
        started_at__gte=since,
        status_code__gte=200,
        status_code__lt=300,
    ).exists()
    if answered:
        return False
    reason = (
        f"Every attempt failed from {since:%Y-%m-%d %H:%M} UTC to"
        f" {at:%Y-%m-%d %H:%M} UTC, the whole retry window."
    )
    disabled = WebhookEndpoint.objects.filter(
        pk=endpoint.pk, disabled_at__isnull=True
    ).update(disabled_at=at, disabled_reason=reason)
    if not disabled:
        return False
    WebhookDelivery.objects.filter(
        endpoint=endpoint, status=WebhookDelivery.Status.PENDING
    ).update(status=WebhookDelivery.Status.HELD, lease_expires_at=None)
    enqueue_with_write(email_staff_endpoint_disabled, endpoint_id=endpoint.pk)
    return True


def resend_deliveries(*, deliveries: list[WebhookDelivery], at: datetime) -> int:
    """Send again from the first attempt of a fresh retry window, whatever
    the state (a receiver may have lost a delivered event). Deliveries of a
    disabled or inactive endpoint wait, held, until it is enabled."""
    from ..tasks import deliver_webhook as deliver_task
    from ..tasks import enqueue_with_write

    resent = 0
    with transaction.atomic():
        for delivery in deliveries:
            endpoint = delivery.endpoint
            ready = endpoint.is_active and endpoint.disabled_at is None
            # An attempt in flight keeps its lease: resending it now would
            # put two requests of one delivery on the wire.
            idle = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=at)
            resent += WebhookDelivery.objects.filter(idle, pk=delivery.pk).update(
                status=(
                    WebhookDelivery.Status.PENDING
                    if ready
                    else WebhookDelivery.Status.HELD
                ),
                attempts_before_resend=F("attempt_count"),
                next_attempt_at=at,
                lease_expires_at=None,
                window_started_at=at,
                delivered_at=None,
            )
            if ready:
                enqueue_with_write(deliver_task, delivery_id=delivery.pk)
    return resent


def due_delivery_ids(*, at: datetime, limit: int = 500) -> list[int]:
    """Pending deliveries whose time has come (new, retry, or expired lease)."""
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=at,
            endpoint__is_active=True,
            endpoint__disabled_at__isnull=True,
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def deliver_due_webhooks(*, at: datetime | None = None, limit: int = 500) -> int:
    """Attempt every due delivery once: the periodic backstop for setups
    without the database queue (``manage.py deliver_webhooks``)."""
    made = 0
    for delivery_id in due_delivery_ids(at=at or timezone.now(), limit=limit):
        if deliver_webhook(delivery_id=delivery_id) is not None:
            made += 1
    return made
