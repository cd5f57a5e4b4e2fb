"""Webhooks delivered by the real worker process to a real loopback receiver.

The change writes its event and delivery rows and queues the delivery task
in its own transaction (the database queue); ``manage.py db_worker``,
started here as a separate process on the test database, makes the
attempts: retries and an expired lease come back as deferred tasks, so no
cron is needed. The clock is the real one (the worker's and ours agree).
"""

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import transaction
from standardwebhooks.webhooks import Webhook

from billing.models import EventType, WebhookAttempt, WebhookDelivery, WebhookEvent
from billing.services.usage import record_usage_events
from billing.services.webhook_deliveries import ABANDONED, deliver_webhook
from billing.services.webhook_events import EventSpec, record_events
from billing.units import GB
from tests.concurrency.conftest import run_concurrently
from tests.factories.billing import (
    UsageEventFactory,
    WebhookEndpointFactory,
    personal_account,
)
from tests.processes import process_env

ROOT = Path(__file__).resolve().parents[2]
DATABASE_BACKEND = "django_tasks_db.DatabaseBackend"
AT = datetime(2026, 4, 16, 12, tzinfo=UTC)

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def database_queue(settings, seeded_catalogue):
    settings.TASKS = {"default": {"BACKEND": DATABASE_BACKEND, "QUEUES": ["default"]}}


def worker_command(*, batch: bool) -> list[str]:
    return [
        sys.executable,
        "manage.py",
        "db_worker",
        "--no-reload",
        "--no-startup-delay",
        "--interval",
        "0.1",
        *(["--batch"] if batch else []),
    ]


def worker_env(**extra: str) -> dict[str, str]:
    return process_env(
        TASKS_BACKEND=DATABASE_BACKEND,
        BILLING_WEBHOOK_PRIVATE_HOSTS="127.0.0.1",
        **extra,
    )


def run_worker_until_idle(**env: str) -> None:
    subprocess.run(
        worker_command(batch=True),
        cwd=ROOT,
        env=worker_env(**env),
        check=True,
        timeout=60,
        capture_output=True,
    )


def start_worker(**env: str) -> subprocess.Popen:
    return subprocess.Popen(
        worker_command(batch=False),
        cwd=ROOT,
        env=worker_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(condition: Callable[[], bool], *, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the worker")
        time.sleep(0.1)


def stop(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=10)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def use(account, quantity: int, *, id: str) -> None:
    record_usage_events(
        events=[UsageEventFactory.build(id=id, account=account, quantity=quantity)]
    )


def delivery_status() -> str | None:
    """The one delivery's status (None until the worker has made it)."""
    return WebhookDelivery.objects.values_list("status", flat=True).first()


def test_the_worker_sends_one_verifiable_quota_warning(database_queue, receiver):
    endpoint = WebhookEndpointFactory(url=receiver.url)
    account = personal_account()

    use(account, 9 * GB // 2, id="w-1")  # 4.5 of 5 GB
    use(account, 1, id="w-2")
    assert receiver.requests == []  # queued with the write, not sent by it
    run_worker_until_idle()

    (request,) = receiver.requests
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert (payload["type"], payload["data"]["state"]) == ("quota.warning", "warning")
    assert delivery_status() == WebhookDelivery.Status.DELIVERED


def test_a_rolled_back_write_leaves_nothing_to_send(database_queue, receiver):
    WebhookEndpointFactory(url=receiver.url)
    account = personal_account()

    with pytest.raises(RuntimeError), transaction.atomic():
        use(account, 6 * GB, id="w-1")
        raise RuntimeError("the caller's transaction fails after the write")
    run_worker_until_idle()

    assert receiver.requests == []
    assert not WebhookEvent.objects.exists()


def test_500_twice_then_200_gets_three_attempts_and_one_success(
    database_queue, receiver
):
    receiver.statuses = [500, 500]
    WebhookEndpointFactory(url=receiver.url)
    use(personal_account(), 9 * GB // 2, id="w-1")

    worker = start_worker(BILLING_WEBHOOK_RETRY_SCHEDULE="1,1,1")
    try:
        wait_for(lambda: delivery_status() == WebhookDelivery.Status.DELIVERED)
    finally:
        stop(worker)

    codes = WebhookAttempt.objects.order_by("number").values_list(
        "status_code", flat=True
    )
    assert list(codes) == [500, 500, 200]
    assert len(receiver.requests) == 3
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1


def test_a_worker_killed_mid_delivery_leaves_it_to_be_retried(database_queue, receiver):
    receiver.hold_first = True  # the first request never gets an answer
    WebhookEndpointFactory(url=receiver.url)
    use(personal_account(), 9 * GB // 2, id="w-1")
    lease = {
        "BILLING_WEBHOOK_LEASE_SECONDS": "2",
        "BILLING_WEBHOOK_TIMEOUT_SECONDS": "30",
    }

    first = start_worker(**lease)
    try:
        assert receiver.arrived.wait(30), "the worker never sent the request"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert delivery.attempts.get().finished_at is None  # died mid-request

    second = start_worker(**lease)
    try:
        wait_for(lambda: delivery_status() == WebhookDelivery.Status.DELIVERED)
    finally:
        stop(second)
        receiver.release.set()

    first_attempt, retry = WebhookAttempt.objects.order_by("number")
    assert first_attempt.error == ABANDONED
    assert retry.status_code == 200
    assert [r.headers["webhook-id"] for r in receiver.requests] == [
        delivery.event.event_id
    ] * 2


def test_20_concurrent_batches_over_the_limit_send_one_exceeded(
    database_queue, receiver
):
    WebhookEndpointFactory(url=receiver.url, event_types=["quota.exceeded"])
    account = personal_account()

    outcomes = run_concurrently(
        lambda i: use(account, GB // 2, id=f"c-{i}"), threads=20
    )  # 10 GB in all, past the 5 GB limit
    outcomes.assert_only()
    run_worker_until_idle()

    assert [r.payload["type"] for r in receiver.requests] == ["quota.exceeded"]
    assert WebhookEvent.objects.filter(type="quota.exceeded").count() == 1


def test_workers_racing_for_one_delivery_make_one_attempt(seeded_catalogue, receiver):
    WebhookEndpointFactory(url=receiver.url)
    record_events(
        specs=[EventSpec(type=EventType.PERIOD_CLOSED, account_id=None, occurred_at=AT)]
    )  # in-process queue: its first attempt runs after commit, here already
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.PENDING, next_attempt_at=AT
    )  # due again, as if a retry were due
    receiver.requests.clear()

    outcomes = run_concurrently(
        lambda i: deliver_webhook(delivery_id=delivery.pk), threads=8
    )

    outcomes.assert_only()
    assert len([r for r in outcomes.results if r is not None]) == 1
    assert len(receiver.requests) == 1
