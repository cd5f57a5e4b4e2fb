"""Claims, resends and replays: a delivery is claimed once per lease, a late
answer settles nothing, many resends send once, a replay sends only the
types the endpoint asked for."""

from datetime import UTC, datetime, timedelta

import pytest

from billing.models import EventType, WebhookDelivery
from billing.services.webhook_deliveries import _claim, _record, deliver_due_webhooks
from billing.services.webhook_endpoints import replay_events, resend
from billing.webhook_transport import Answer
from tests.factories.accounts import UserFactory
from tests.factories.billing import WebhookEndpointFactory

from .helpers import AT, Status, a_delivery, an_event

pytestmark = pytest.mark.django_db


def test_a_delivery_is_claimed_once_until_its_lease_expires(settings):
    settings.BILLING_WEBHOOK_LEASE_SECONDS = 60
    delivery = a_delivery(WebhookEndpointFactory())

    first = _claim(delivery_id=delivery.pk, now=AT)
    again = _claim(delivery_id=delivery.pk, now=AT)
    before_the_end = _claim(delivery_id=delivery.pk, now=AT + timedelta(seconds=59))
    after_the_end = _claim(delivery_id=delivery.pk, now=AT + timedelta(seconds=61))

    assert first is not None and after_the_end is not None
    assert (again, before_the_end) == (None, None)
    assert list(delivery.attempts.values_list("number", flat=True)) == [1, 2]
    assert delivery.attempts.get(number=1).finished_at is not None  # abandoned


@pytest.mark.time_machine(AT, tick=False)
def test_the_late_answer_of_an_expired_attempt_does_not_settle_the_delivery(
    settings,
):
    settings.BILLING_WEBHOOK_LEASE_SECONDS = 60
    delivery = a_delivery(WebhookEndpointFactory())
    stale = _claim(delivery_id=delivery.pk, now=AT)
    current = _claim(delivery_id=delivery.pk, now=AT + timedelta(seconds=61))
    assert stale is not None and current is not None

    _record(stale, Answer(status_code=200), now=AT + timedelta(seconds=62))

    delivery.refresh_from_db()
    assert delivery.status == Status.PENDING
    assert delivery.attempt_count == 2
    assert delivery.lease_expires_at == AT + timedelta(seconds=121)


@pytest.mark.time_machine(AT, tick=False)
def test_resending_a_failed_delivery_many_times_sends_it_once(
    receiver, django_capture_on_commit_callbacks
):
    staff = UserFactory(is_staff=True, is_superuser=True)
    endpoint = WebhookEndpointFactory(url=receiver.url)
    delivery = a_delivery(endpoint)
    delivery.status = Status.FAILED
    delivery.save(update_fields=["status"])

    # Five clicks; their five queued attempts run together after the commit.
    with django_capture_on_commit_callbacks(execute=True) as queued:
        for _ in range(5):
            resend(deliveries=[delivery], actor=staff)
    deliver_due_webhooks()

    assert len(queued) == 5
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().status == Status.DELIVERED


@pytest.mark.time_machine(AT, tick=False)
def test_replay_sends_no_event_of_a_type_the_endpoint_did_not_ask_for():
    staff = UserFactory(is_staff=True, is_superuser=True)
    endpoint = WebhookEndpointFactory(event_types=[EventType.PERIOD_CLOSED])
    wanted = an_event(EventType.PERIOD_CLOSED, created_at=AT - timedelta(days=2))
    for type in EventType.values:
        if type != EventType.PERIOD_CLOSED:
            an_event(type, created_at=AT - timedelta(days=1))

    first = replay_events(
        endpoint=endpoint, since=datetime(2000, 1, 1, tzinfo=UTC), actor=staff
    )
    again = replay_events(
        endpoint=endpoint, since=datetime(2000, 1, 1, tzinfo=UTC), actor=staff
    )

    assert (first, again) == (1, 0)
    assert list(endpoint.deliveries.values_list("event", flat=True)) == [wanted.pk]
