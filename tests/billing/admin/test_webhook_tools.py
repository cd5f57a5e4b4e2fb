"""The tools on a webhook endpoint's page: rotate, enable again, resend and
replay, each through its service and on the admin history.
"""

from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry

from billing.models import (
    EventType,
    WebhookEndpoint,
)
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import (
    WebhookEndpointFactory,
)

from .helpers import (
    AT,
    Status,
    delivery,
    event,
    message_texts,
    tool,
    url,
)

pytestmark = pytest.mark.django_db


def test_the_enable_tool_shows_only_on_a_disabled_endpoint(admin_client):
    working = WebhookEndpointFactory()
    disabled = WebhookEndpointFactory(disabled_at=AT, disabled_reason="Failing.")

    on_working = admin_client.get(url(WebhookEndpoint, "change", working.pk))
    on_disabled = admin_client.get(url(WebhookEndpoint, "change", disabled.pk))

    assert tool(working, "rotate") in on_working.content.decode()
    assert tool(working, "enable") not in on_working.content.decode()
    assert tool(disabled, "enable") in on_disabled.content.decode()


@pytest.mark.time_machine(AT, tick=False)
def test_rotating_shows_a_new_secret_once_and_the_old_one_signs_for_a_day(
    admin_client,
):
    endpoint = WebhookEndpointFactory()
    old = endpoint.secret

    confirm = admin_client.get(tool(endpoint, "rotate"))
    response = admin_client.post(tool(endpoint, "rotate"), follow=True)

    assert confirm.status_code == 200
    endpoint.refresh_from_db()
    assert confirm.content.decode().count("whsec_") == 0
    assert "no-store" in response["Cache-Control"]
    assert endpoint.secret != old
    assert endpoint.secret in response.content.decode()
    assert old not in response.content.decode()
    assert "keeps signing alongside this one for 24 hours" in response.content.decode()
    assert endpoint.previous_secret == old
    assert endpoint.previous_secret_expires_at == AT + timedelta(hours=24)
    assert endpoint.signing_secrets(at=AT + timedelta(hours=23)) == [
        endpoint.secret,
        old,
    ]
    assert endpoint.signing_secrets(at=AT + timedelta(hours=24)) == [endpoint.secret]
    entry = LogEntry.objects.get(object_id=str(endpoint.pk))
    assert (entry.action_flag, entry.get_change_message()) == (
        CHANGE,
        "Rotated the signing secret.",
    )


def test_a_staff_user_without_the_permission_cannot_rotate(client):
    endpoint = WebhookEndpointFactory()
    secret = endpoint.secret
    client.force_login(StaffUserFactory(perms=["billing.view_webhookendpoint"]))

    page = client.get(url(WebhookEndpoint, "change", endpoint.pk))
    response = client.post(tool(endpoint, "rotate"), follow=True)

    assert page.status_code == 200
    assert tool(endpoint, "rotate") not in page.content.decode()
    assert any("billing.change_webhookendpoint" in m for m in message_texts(response))
    endpoint.refresh_from_db()
    assert (endpoint.secret, endpoint.previous_secret) == (secret, "")
    assert not LogEntry.objects.exists()


def test_a_staff_user_who_cannot_see_endpoints_gets_403(client):
    endpoint = WebhookEndpointFactory()
    client.force_login(StaffUserFactory(perms=["billing.view_webhookdelivery"]))

    assert client.post(tool(endpoint, "rotate")).status_code == 403
    assert client.post(tool(endpoint, "resend")).status_code == 403


@pytest.mark.time_machine(AT)
def test_enable_again_sends_what_the_endpoint_missed(
    admin_client, receiver, django_capture_on_commit_callbacks
):
    endpoint = WebhookEndpointFactory(
        url=receiver.url, disabled_at=AT, disabled_reason="Failing."
    )
    held = delivery(endpoint, status=Status.HELD)
    failed = delivery(endpoint, status=Status.FAILED, attempts=10)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(tool(endpoint, "enable"), follow=True)

    endpoint.refresh_from_db()
    assert endpoint.disabled_at is None
    assert "2 deliveries sent again" in " ".join(message_texts(response))
    assert sorted(r.payload["id"] for r in receiver.requests) == sorted(
        [held.event.event_id, failed.event.event_id]
    )
    assert set(endpoint.deliveries.values_list("status", flat=True)) == {
        Status.DELIVERED
    }
    entry = LogEntry.objects.get(object_id=str(endpoint.pk))
    assert entry.get_change_message() == "Enabled again; resent 2 deliveries."


@pytest.mark.time_machine(AT)
def test_resend_undelivered_sends_held_and_failed_deliveries_again(admin_client):
    endpoint = WebhookEndpointFactory()
    failed = delivery(endpoint, status=Status.FAILED, attempts=10)
    held = delivery(endpoint, status=Status.HELD)
    done = delivery(endpoint, status=Status.DELIVERED, attempts=1)

    confirm = admin_client.get(tool(endpoint, "resend"))
    response = admin_client.post(tool(endpoint, "resend"), follow=True)

    assert "Held or failed deliveries of this endpoint: 2." in confirm.content.decode()
    assert "2 deliveries sent again." in message_texts(response)
    statuses = dict(endpoint.deliveries.values_list("pk", "status"))
    assert statuses == {
        failed.pk: Status.PENDING,
        held.pk: Status.PENDING,
        done.pk: Status.DELIVERED,
    }


@pytest.mark.time_machine(AT)
def test_replay_sends_the_events_of_its_types_since_the_given_time(admin_client):
    endpoint = WebhookEndpointFactory(event_types=[EventType.QUOTA_WARNING])
    before = event(created_at=AT - timedelta(days=3))
    since = event(created_at=AT - timedelta(hours=2))
    event(EventType.PERIOD_CLOSED, created_at=AT - timedelta(hours=1))  # not its type

    form = admin_client.get(tool(endpoint, "replay"))
    response = admin_client.post(
        tool(endpoint, "replay"), {"since": "2026-04-15T12:00"}, follow=True
    )
    again = admin_client.post(
        tool(endpoint, "replay"), {"since": "2026-04-15T12:00"}, follow=True
    )

    assert 'type="datetime-local"' in form.content.decode()
    assert list(endpoint.deliveries.values_list("event", flat=True)) == [since.pk]
    assert not before.deliveries.exists()
    assert "1 event recorded since 2026-04-15 12:00" in " ".join(
        message_texts(response)
    )
    assert "No event of its types" in " ".join(message_texts(again))


def test_replay_without_a_time_asks_again(admin_client):
    endpoint = WebhookEndpointFactory()
    response = admin_client.post(tool(endpoint, "replay"), {"since": "yesterday"})
    assert response.status_code == 400
    assert response.context["form"].errors["since"]
