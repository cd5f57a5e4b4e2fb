"""An endpoint's secret after its one showing: on no page, log, session or
e-mail; not for a colleague; not found by filtering other lists on it."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.sessions.models import Session
from django.core import mail
from django.urls import reverse

from billing.models import (
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from billing.services.webhook_deliveries import disable_if_failing
from billing.tasks import email_staff_endpoint_disabled
from tests.factories.accounts import UserFactory
from tests.factories.billing import WebhookEndpointFactory

from .helpers import AT, PAGES, a_delivery, admin_url, tool

pytestmark = pytest.mark.django_db


@pytest.mark.time_machine(AT)
def test_the_secret_is_nowhere_after_the_page_that_showed_it(admin_client):
    created = admin_client.post(
        admin_url(WebhookEndpoint, "add"),
        {
            "url": "http://127.0.0.1:9/hooks",
            "description": "Platform",
            "event_types": [EventType.PERIOD_CLOSED],
            "is_active": "on",
        },
        follow=True,
    )
    endpoint = WebhookEndpoint.objects.get()
    first = endpoint.secret
    assert first in created.content.decode()
    rotated = admin_client.post(tool(endpoint, "rotate"), follow=True)
    endpoint.refresh_from_db()
    assert endpoint.secret in rotated.content.decode()
    admin_client.post(
        admin_url(WebhookEndpoint, "change", endpoint.pk),
        {
            "url": "http://127.0.0.1:9/other",
            "description": "Platform",
            "event_types": [EventType.PERIOD_CLOSED],
            "is_active": "on",
        },
    )
    delivery = a_delivery(endpoint)
    WebhookAttempt.objects.create(
        delivery=delivery, number=1, started_at=AT, error="Refused: whatever."
    )
    UserFactory(is_staff=True, is_superuser=True, email="ops@example.com")
    disable_if_failing(endpoint=endpoint, since=AT, at=AT)
    email_staff_endpoint_disabled.call(endpoint_id=endpoint.pk)

    pages = [
        admin_client.get(admin_url(WebhookEndpoint, view, *args))
        for view, args in (
            ("changelist", ()),
            ("change", (endpoint.pk,)),
            ("history", (endpoint.pk,)),
        )
    ] + [
        admin_client.get(admin_url(WebhookDelivery, "changelist")),
        admin_client.get(admin_url(WebhookDelivery, "change", delivery.pk)),
        admin_client.get(admin_url(WebhookEvent, "change", delivery.event.pk)),
        admin_client.get(reverse("admin:index")),
        *(admin_client.get(tool(endpoint, name), follow=True) for name in PAGES),
    ]
    logged = [(e.object_repr, e.change_message) for e in LogEntry.objects.all()]
    sessions = [s.get_decoded() for s in Session.objects.all()]
    (email,) = mail.outbox

    for secret in (first, endpoint.secret):
        for page in pages:
            assert page.status_code == 200
            assert secret not in page.content.decode()
        assert secret not in repr(logged)
        assert secret not in repr(sessions)
        assert secret not in email.subject + email.body
    assert len(logged) == 3  # added, rotated, changed


@pytest.mark.time_machine(AT)
def test_another_staff_member_cannot_pick_up_a_secret_not_yet_shown(
    admin_client, client
):
    """The creator's browser has not followed the redirect yet; a colleague
    with every power opens the page that shows the secret."""
    admin_client.post(
        admin_url(WebhookEndpoint, "add"),
        {
            "url": "http://127.0.0.1:9/hooks",
            "event_types": [EventType.PERIOD_CLOSED],
            "is_active": "on",
        },
    )
    endpoint = WebhookEndpoint.objects.get()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    colleague = client.get(tool(endpoint, "secret"), follow=True)
    creator = admin_client.get(tool(endpoint, "secret"))

    assert endpoint.secret not in colleague.content.decode()
    assert "shown once and cannot be shown again" in colleague.content.decode()
    assert endpoint.secret in creator.content.decode()


@pytest.mark.parametrize(
    ("model", "lookup"),
    [
        (WebhookDelivery, "endpoint__secret__startswith"),
        (WebhookDelivery, "endpoint__previous_secret__regex"),
        (WebhookEvent, "deliveries__endpoint__secret__startswith"),
    ],
)
def test_other_lists_cannot_filter_on_an_endpoint_secret(admin_client, model, lookup):
    endpoint = WebhookEndpointFactory()
    a_delivery(endpoint)

    response = admin_client.get(
        admin_url(model, "changelist"), {lookup: endpoint.secret[:10]}
    )

    assert response.status_code == 400
