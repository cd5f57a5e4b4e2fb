"""Attempts, retries, leases, rotation and disabling, against a real receiver.

Tasks run in process here: the first attempt follows the commit; later
attempts are made by ``deliver_due_webhooks`` (what ``manage.py
deliver_webhooks`` and the worker's deferred tasks do) once they are due.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from billing.models import EventType, WebhookDelivery
from billing.services.webhook_deliveries import (
    ABANDONED,
    deliver_due_webhooks,
    deliver_webhook,
    retry_delay,
)
from billing.services.webhook_endpoints import (
    enable_endpoint,
    resend,
    rotate_secret,
)
from billing.services.webhook_events import EventSpec, record_events
from tests.factories.accounts import UserFactory
from tests.factories.billing import WebhookEndpointFactory, personal_account

pytestmark = pytest.mark.django_db

AT = datetime(2026, 4, 16, 12, tzinfo=UTC)
SCHEDULE = [60, 600]  # three attempts in all


@pytest.fixture(autouse=True)
def short_schedule(settings):
    settings.BILLING_WEBHOOK_RETRY_SCHEDULE = SCHEDULE
    settings.BILLING_WEBHOOK_TIMEOUT_SECONDS = 2


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, is_superuser=True, email="ops@example.com")


def emit(after_commit_callbacks, *, key: str | None = None) -> None:
    account = personal_account()
    with after_commit_callbacks(execute=True):
        record_events(
            specs=[
                EventSpec(
                    type=EventType.PURCHASE_COMPLETED,
                    account_id=account.pk,
                    occurred_at=AT,
                    data={"purchase": {"id": 1}},
                    dedupe_key=key,
                )
            ]
        )


def later(minutes: float):
    return time_machine.travel(AT + timedelta(minutes=minutes), tick=False)


@pytest.mark.time_machine(AT, tick=False)
def test_500_twice_then_200_makes_three_attempts_and_one_success(
    receiver, django_capture_on_commit_callbacks
):
    receiver.statuses = [500, 500]
    WebhookEndpointFactory(url=receiver.url)

    emit(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING
    # The first retry is due 48-60 s later (the schedule, less jitter).
    assert (
        AT + timedelta(seconds=48)
        <= delivery.next_attempt_at
        <= AT + timedelta(seconds=60)
    )
    with later(0.5):
        assert deliver_due_webhooks() == 0  # not due yet
    with later(1):
        assert deliver_due_webhooks() == 1
    with later(11):
        assert deliver_due_webhooks() == 1
    with later(60):
        assert deliver_due_webhooks() == 0  # delivered: nothing more

    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    codes = list(delivery.attempts.values_list("status_code", flat=True))
    assert codes == [500, 500, 200]
    assert delivery.attempts.first().response_excerpt == "receiver says no"
    # One event, one id: the receiver can drop repeats.
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1


@pytest.mark.time_machine(AT, tick=False)
def test_a_redirect_is_a_failure_and_is_not_followed(
    receiver, django_capture_on_commit_callbacks
):
    receiver.statuses = [302]
    WebhookEndpointFactory(url=receiver.url)

    emit(django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)
    assert len(receiver.requests) == 1


@pytest.mark.time_machine(AT, tick=False)
def test_an_unreachable_endpoint_is_retried_then_disabled_and_staff_told(
    staff, django_capture_on_commit_callbacks
):
    endpoint = WebhookEndpointFactory(url="http://127.0.0.1:9/hooks")  # closed

    emit(django_capture_on_commit_callbacks)
    for minutes in (1, 11):
        with later(minutes), django_capture_on_commit_callbacks(execute=True):
            deliver_due_webhooks()

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.attempt_count == 3
    assert "Connection" in delivery.last_error
    endpoint.refresh_from_db()
    assert endpoint.disabled_at == AT + timedelta(minutes=11)
    assert "whole retry window" in endpoint.disabled_reason
    (message,) = mail.outbox
    assert message.to == ["ops@example.com"]
    assert endpoint.url in message.subject

    # Later events are kept for it, held until staff enable it again.
    emit(django_capture_on_commit_callbacks, key="later-event")
    held = WebhookDelivery.objects.get(status=WebhookDelivery.Status.HELD)
    assert held.attempt_count == 0


@pytest.mark.time_machine(AT, tick=False)
def test_enabling_again_resends_what_the_endpoint_missed(
    receiver, staff, django_capture_on_commit_callbacks
):
    endpoint = WebhookEndpointFactory(
        url=receiver.url, disabled_at=AT, disabled_reason="failing"
    )
    emit(django_capture_on_commit_callbacks)
    assert receiver.requests == []

    with django_capture_on_commit_callbacks(execute=True):
        assert enable_endpoint(endpoint=endpoint, actor=staff) == 1

    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.DELIVERED
    endpoint.refresh_from_db()
    assert endpoint.disabled_at is None


@pytest.mark.time_machine(AT, tick=False)
def test_one_success_in_the_window_keeps_the_endpoint_enabled(
    receiver, django_capture_on_commit_callbacks
):
    receiver.statuses = [200, 500, 500, 500]
    endpoint = WebhookEndpointFactory(url=receiver.url)
    emit(django_capture_on_commit_callbacks, key="first")  # 200
    emit(django_capture_on_commit_callbacks, key="second")  # 500 x 3
    for minutes in (1, 11):
        with later(minutes):
            deliver_due_webhooks()

    failed = WebhookDelivery.objects.get(status=WebhookDelivery.Status.FAILED)
    assert failed.attempt_count == 3
    endpoint.refresh_from_db()
    assert endpoint.disabled_at is None


@pytest.mark.time_machine(AT, tick=False)
def test_staff_can_resend_a_delivered_event(
    receiver, staff, django_capture_on_commit_callbacks
):
    WebhookEndpointFactory(url=receiver.url)
    emit(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        assert resend(deliveries=[delivery], actor=staff) == 1

    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.attempt_count == 2
    assert [r.headers["webhook-id"] for r in receiver.requests] == [
        delivery.event.event_id
    ] * 2


@pytest.mark.time_machine(AT, tick=False)
def test_a_held_lease_keeps_other_workers_off_until_it_expires(
    settings,
):
    settings.BILLING_WEBHOOK_LEASE_SECONDS = 30
    WebhookEndpointFactory(url="http://127.0.0.1:9/hooks")
    record_events(  # its first attempt (after commit) is not run here
        specs=[EventSpec(type=EventType.PERIOD_CLOSED, account_id=None, occurred_at=AT)]
    )
    delivery = WebhookDelivery.objects.get()
    # As if a worker had claimed it and died before recording an answer.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempt_count=1, next_attempt_at=AT + timedelta(seconds=30)
    )
    delivery.attempts.create(number=1, started_at=AT)

    with later(0.25):
        assert deliver_webhook(delivery_id=delivery.pk) is None
    with later(0.75):
        attempt = deliver_webhook(delivery_id=delivery.pk)

    assert attempt.number == 2
    first = delivery.attempts.get(number=1)
    assert (first.error, first.finished_at) == (ABANDONED, AT + timedelta(minutes=0.75))


@pytest.mark.time_machine(AT, tick=False)
def test_after_a_rotation_both_secrets_sign_for_a_day(
    receiver, staff, django_capture_on_commit_callbacks
):
    endpoint = WebhookEndpointFactory(url=receiver.url)
    old = endpoint.secret
    new = rotate_secret(endpoint=endpoint, actor=staff).secret
    assert new != old

    emit(django_capture_on_commit_callbacks, key="during")
    with later(24 * 60 + 1):
        emit(django_capture_on_commit_callbacks, key="after")

    during, after = receiver.requests
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    with time_machine.travel(AT, tick=False):
        Webhook(old).verify(during.body, during.headers)
        Webhook(new).verify(during.body, during.headers)
    with later(24 * 60 + 1):
        Webhook(new).verify(after.body, after.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(after.body, after.headers)


def test_the_default_schedule_spends_about_three_days(settings):
    settings.BILLING_WEBHOOK_RETRY_SCHEDULE = [
        5,
        300,
        1800,
        7200,
        18000,
        36000,
        36000,
        72000,
        86400,
    ]
    waits = [retry_delay(n) for n in range(1, 10)]
    assert timedelta(hours=57) < sum(waits, timedelta()) <= timedelta(hours=72)
    assert all(a < b for a, b in zip(waits[:5], waits[1:6], strict=True))


@pytest.mark.time_machine(AT, tick=False)
def test_switching_an_endpoint_back_on_sends_what_waited(
    receiver, staff, django_capture_on_commit_callbacks
):
    from billing.services.webhook_endpoints import update_endpoint

    endpoint = WebhookEndpointFactory(url=receiver.url)
    record_events(  # queued; its first attempt is not run here
        specs=[EventSpec(type=EventType.PERIOD_CLOSED, account_id=None, occurred_at=AT)]
    )
    endpoint.is_active = False
    endpoint.save()

    with django_capture_on_commit_callbacks(execute=True):
        update_endpoint(
            endpoint=endpoint,
            url=endpoint.url,
            event_types=endpoint.event_types,
            description="",
            is_active=True,
            actor=staff,
        )

    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.DELIVERED
