"""Webhook deliveries and events in the admin: read-only, with their
attempts, and sent again on request.
"""

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry

from billing.models import (
    EventType,
    QuotaNotice,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import (
    WebhookEndpointFactory,
)

from .helpers import (
    AT,
    Status,
    delivery,
    message_texts,
    url,
)

pytestmark = pytest.mark.django_db


@pytest.mark.time_machine(AT)
def test_the_delivery_list_filters_by_status_type_and_endpoint(admin_client):
    first, second = WebhookEndpointFactory(), WebhookEndpointFactory()
    failed = delivery(first, status=Status.FAILED, type=EventType.QUOTA_WARNING)
    pending = delivery(first, status=Status.PENDING, type=EventType.PERIOD_CLOSED)
    other = delivery(second, status=Status.DELIVERED, type=EventType.QUOTA_WARNING)

    def listed(**query: object) -> set[int]:
        response = admin_client.get(url(WebhookDelivery, "changelist"), query)
        assert response.status_code == 200
        return {d.pk for d in response.context["cl"].result_list}

    assert listed(status__exact="failed") == {failed.pk}
    assert listed(event__type__exact="quota.warning") == {failed.pk, other.pk}
    assert listed(endpoint__id__exact=first.pk) == {failed.pk, pending.pk}
    assert listed(q=pending.event.event_id) == {pending.pk}
    assert listed(q=other.event.account.external_id) == {other.pk}


@pytest.mark.time_machine(AT)
def test_the_webhook_lists_do_no_query_per_row(
    admin_client, django_assert_max_num_queries
):
    endpoints = WebhookEndpointFactory.create_batch(3)
    for i in range(20):
        delivery(endpoints[i % 3], status=list(Status)[i % 4], attempts=i % 3)

    with django_assert_max_num_queries(6):
        response = admin_client.get(url(WebhookDelivery, "changelist"))
    with django_assert_max_num_queries(5):
        events = admin_client.get(url(WebhookEvent, "changelist"))
    with django_assert_max_num_queries(6):
        admin_client.get(url(WebhookEndpoint, "changelist"))

    page = response.content.decode()
    assert len(response.context["cl"].result_list) == 20
    assert len(events.context["cl"].result_list) == 20
    assert "evt_test" in page and "user-" in page


@pytest.mark.time_machine(AT)
def test_a_delivery_page_shows_the_body_and_its_attempts_read_only(
    admin_client, django_assert_max_num_queries
):
    failed = delivery(status=Status.FAILED, attempts=2)

    with django_assert_max_num_queries(6):  # none per attempt
        response = admin_client.get(url(WebhookDelivery, "change", failed.pk))

    page = response.content.decode()
    assert response.status_code == 200
    assert f"&quot;id&quot;: &quot;{failed.event.event_id}&quot;" in page
    assert "<pre>" in page
    assert page.count("receiver says no") == 2
    assert "120 ms" in page
    assert 'name="_save"' not in page
    assert admin_client.get(url(WebhookDelivery, "add")).status_code == 403
    assert admin_client.get(url(WebhookDelivery, "delete", failed.pk)).status_code == (
        403
    )


@pytest.mark.time_machine(AT)
def test_the_resend_action_sends_a_failed_delivery_again(
    admin_client, receiver, django_capture_on_commit_callbacks
):
    failed = delivery(
        WebhookEndpointFactory(url=receiver.url), status=Status.FAILED, attempts=10
    )
    action = {"action": "resend_selected", "_selected_action": [failed.pk]}

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            url(WebhookDelivery, "changelist"), action, follow=True
        )
        failed.refresh_from_db()
        assert failed.status == Status.PENDING  # until the commit sends it

    assert "1 delivery sent again." in message_texts(response)
    (received,) = receiver.requests
    assert received.payload["id"] == failed.event.event_id
    failed.refresh_from_db()
    assert (failed.status, failed.attempt_count) == (Status.DELIVERED, 11)
    assert LogEntry.objects.get(object_id=str(failed.pk)).action_flag == CHANGE


def test_the_resend_action_needs_the_endpoint_permission(client):
    failed = delivery(status=Status.FAILED)
    client.force_login(StaffUserFactory(perms=["billing.view_webhookdelivery"]))
    action = {"action": "resend_selected", "_selected_action": [failed.pk]}

    page = client.get(url(WebhookDelivery, "changelist"))
    client.post(url(WebhookDelivery, "changelist"), action)

    assert "resend_selected" not in page.content.decode()
    failed.refresh_from_db()
    assert failed.status == Status.FAILED


@pytest.mark.time_machine(AT)
def test_an_event_page_lists_its_deliveries_read_only(
    admin_client, django_assert_max_num_queries
):
    sent = delivery(status=Status.DELIVERED)
    for status in (Status.FAILED, Status.PENDING, Status.HELD):
        WebhookDelivery.objects.create(
            event=sent.event, endpoint=WebhookEndpointFactory(), status=status
        )

    listing = admin_client.get(
        url(WebhookEvent, "changelist"), {"q": sent.event.event_id}
    )
    with django_assert_max_num_queries(7):  # none per delivery
        page = admin_client.get(url(WebhookEvent, "change", sent.event.pk))

    assert list(listing.context["cl"].result_list) == [sent.event]
    assert url(WebhookDelivery, "change", sent.pk) in page.content.decode()
    assert "Failed (retries used up)" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    assert admin_client.get(url(WebhookEvent, "add")).status_code == 403


def test_quota_notices_stay_out_of_the_admin():
    assert QuotaNotice not in admin.site._registry
