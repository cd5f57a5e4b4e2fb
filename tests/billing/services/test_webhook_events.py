"""Quota, purchase, refund, slot and period events reach a real receiver."""

from datetime import UTC, datetime

import pytest
from django.db import transaction
from standardwebhooks.webhooks import Webhook

from billing.models import WebhookDelivery, WebhookEvent
from billing.services.usage import UsageEventInput, record_usage_events
from billing.units import GB
from tests.factories.billing import WebhookEndpointFactory, personal_account

pytestmark = pytest.mark.django_db

AT = datetime(2026, 4, 16, 12, tzinfo=UTC)


def use(account, meter: str, quantity: int, *, id: str) -> None:
    record_usage_events(
        events=[
            UsageEventInput(
                id=id, account=account, meter=meter, quantity=quantity, timestamp=AT
            )
        ]
    )


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    """Run what a change queues after its commit (the in-process queue)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.mark.time_machine(AT)
def test_crossing_80_percent_sends_one_signed_quota_warning(receiver, after_commit):
    endpoint = WebhookEndpointFactory(url=receiver.url)
    account = personal_account()
    account.external_id = "user-42"
    account.save()

    with after_commit():
        use(account, "bandwidth", 9 * GB // 2, id="a")  # 4.5 of 5 GB
    with after_commit():
        use(account, "bandwidth", 1, id="b")  # still warning: told once a period

    (request,) = receiver.requests
    assert request.headers["webhook-id"].startswith("evt_")
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload["type"] == "quota.warning"
    assert payload["data"] == {
        "account": "user-42",
        "meter": "bandwidth",
        "unit": "byte",
        "period_start": "2026-04-01",
        "period_end": "2026-05-01",
        "state": "warning",
        "used": 9 * GB // 2,
        "limit": 5 * GB,
        "percent": 90.0,
    }
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.attempts.get().status_code == 200


@pytest.mark.time_machine(AT)
def test_a_rolled_back_change_sends_nothing(receiver, after_commit):
    WebhookEndpointFactory(url=receiver.url)
    account = personal_account()

    with after_commit(), pytest.raises(RuntimeError), transaction.atomic():
        use(account, "bandwidth", 6 * GB, id="a")
        raise RuntimeError("the caller fails after the write")

    assert receiver.requests == []
    assert not WebhookEvent.objects.exists()
