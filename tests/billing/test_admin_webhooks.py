"""The webhook admin: endpoints through their services, secrets shown once,
deliveries read-only and sent again on request."""

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from django.contrib import admin
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.messages import get_messages
from django.urls import reverse

from billing.models import (
    EventType,
    QuotaNotice,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import WebhookEndpointFactory, personal_account

pytestmark = pytest.mark.django_db

AT = datetime(2026, 4, 16, 12, tzinfo=UTC)
Status = WebhookDelivery.Status
_ids = count(1)


def url(model: type, view: str, *args: object) -> str:
    return reverse(f"admin:billing_{model._meta.model_name}_{view}", args=args)


def tool(endpoint: WebhookEndpoint, name: str) -> str:
    return reverse(f"admin:billing_webhookendpoint_{name}", args=[endpoint.pk])


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


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


def add_form(**overrides: object) -> dict[str, object]:
    return {
        "url": "http://127.0.0.1:9/hooks",
        "description": "Platform",
        "event_types": list(EventType.values),
        "is_active": "on",
        **overrides,
    }


# Endpoints: creation and the secret shown once ------------------------------


def test_the_add_form_offers_every_event_type_ticked(admin_client):
    response = admin_client.get(url(WebhookEndpoint, "add"))

    form = response.context["adminform"].form
    assert form["event_types"].value() == list(EventType.values)
    assert response.content.decode().count('type="checkbox" name="event_types"') == (
        len(EventType.values)
    )
    assert "Save and add another" not in response.content.decode()


@pytest.mark.time_machine(AT)
def test_creating_an_endpoint_shows_its_secret_once_and_stores_it(
    admin_client, admin_user
):
    response = admin_client.post(url(WebhookEndpoint, "add"), add_form(), follow=True)

    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.secret in response.content.decode()
    assert "webhook-signature" in response.content.decode()  # how to verify
    assert endpoint.url == "http://127.0.0.1:9/hooks"
    assert endpoint.event_types == sorted(EventType.values)
    assert endpoint.created_by == admin_user
    assert LogEntry.objects.get(object_id=str(endpoint.pk)).action_flag == ADDITION
    # Reloading the page neither shows the secret again nor adds an endpoint.
    reload = admin_client.get(response.redirect_chain[-1][0], follow=True)
    assert endpoint.secret not in reload.content.decode()
    assert "shown once and cannot be shown again" in reload.content.decode()
    assert WebhookEndpoint.objects.count() == 1

    change = admin_client.get(url(WebhookEndpoint, "change", endpoint.pk))
    assert change.status_code == 200
    assert endpoint.secret not in change.content.decode()
    assert "whsec_" not in change.content.decode()


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("https://169.254.169.254/latest/meta-data", "is a cloud metadata address"),
        ("https://169.254.10.1/hooks", "is a link-local address"),
        ("http://hooks.example.com/billing", "Use https: plain http is only for"),
        ("ftp://hooks.example.com/billing", "Give a full http(s) URL"),
    ],
)
def test_an_unsafe_url_is_refused_with_the_reason(admin_client, address, message):
    response = admin_client.post(url(WebhookEndpoint, "add"), add_form(url=address))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors["url"])
    assert not WebhookEndpoint.objects.exists()


def test_an_endpoint_needs_an_event_type(admin_client):
    response = admin_client.post(url(WebhookEndpoint, "add"), add_form(event_types=[]))

    errors = response.context["adminform"].form.errors
    assert errors["event_types"] == ["Choose at least one event type."]
    assert not WebhookEndpoint.objects.exists()


def test_editing_an_endpoint_goes_through_the_same_check(admin_client):
    endpoint = WebhookEndpointFactory(description="Old")
    change_url = url(WebhookEndpoint, "change", endpoint.pk)
    form = add_form(description="New", event_types=[EventType.PERIOD_CLOSED])

    refused = admin_client.post(change_url, {**form, "url": "https://10.0.0.8/hooks"})
    saved = admin_client.post(change_url, form)

    assert "is not a public address" in " ".join(
        refused.context["adminform"].form.errors["url"]
    )
    assert saved.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.description, endpoint.event_types) == ("New", ["period.closed"])


def test_endpoints_are_switched_off_not_deleted(admin_client):
    endpoint = WebhookEndpointFactory()
    response = admin_client.get(url(WebhookEndpoint, "delete", endpoint.pk))
    assert response.status_code == 403


def test_the_endpoint_list_shows_a_disabled_endpoint_with_its_reason(admin_client):
    WebhookEndpointFactory(url="https://ok.example.com/hooks")
    WebhookEndpointFactory(
        url="https://down.example.com/hooks",
        event_types=["period.closed"],
        disabled_at=AT,
        disabled_reason="Every attempt failed for the whole retry window.",
    )

    response = admin_client.get(url(WebhookEndpoint, "changelist"))

    page = response.content.decode()
    assert "https://down.example.com/hooks" in page
    assert "Every attempt failed for the whole retry window." in page
    assert f"1 of {len(EventType.values)}" in page
    assert f"all {len(EventType.values)}" in page


# The tools on an endpoint's page -------------------------------------------


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


# Deliveries ------------------------------------------------------------------


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


# Events ---------------------------------------------------------------------


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
