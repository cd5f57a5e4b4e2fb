"""Staff reaching for an endpoint power they do not hold: refused by the
admin's tools and by the services behind them, with nothing changed."""

from datetime import UTC, datetime

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse

from billing.errors import MissingPermission
from billing.models import EventType, WebhookEndpoint
from billing.services import webhook_endpoints
from tests.factories.accounts import StaffUserFactory, UserFactory

from .helpers import AT, PAGES, TOOLS, Status, tool

pytestmark = pytest.mark.django_db


def unchanged(endpoint: WebhookEndpoint, before: WebhookEndpoint) -> bool:
    endpoint.refresh_from_db()
    return (
        endpoint.secret == before.secret
        and endpoint.previous_secret == ""
        and endpoint.disabled_at == before.disabled_at
        and set(endpoint.deliveries.values_list("status", flat=True)) == {Status.HELD}
        and endpoint.deliveries.count() == 1
        and not LogEntry.objects.exists()
    )


@pytest.mark.time_machine(AT)
@pytest.mark.parametrize("name", TOOLS)
def test_a_viewer_without_the_change_permission_changes_nothing(
    client, disabled_endpoint, name
):
    before = WebhookEndpoint.objects.get(pk=disabled_endpoint.pk)
    client.force_login(StaffUserFactory(perms=["billing.view_webhookendpoint"]))

    page = client.get(tool(disabled_endpoint, name))
    posted = client.post(
        tool(disabled_endpoint, name), {"since": "2000-01-01T00:00"}, follow=True
    )

    assert page.status_code == 200  # a confirmation page, nothing done
    assert "whsec_" not in page.content.decode() + posted.content.decode()
    assert "billing.change_webhookendpoint" in posted.content.decode()
    assert unchanged(disabled_endpoint, before)


SERVICE_CALLS = {
    "rotate_secret": {},
    "enable_endpoint": {},
    "resend_undelivered": {},
    "resend": None,  # takes deliveries, not the endpoint
    "replay_events": {"since": datetime(2000, 1, 1, tzinfo=UTC)},
    "update_endpoint": {
        "url": "https://93.184.216.34/stolen",
        "event_types": list(EventType.values),
        "description": "",
        "is_active": True,
    },
}


@pytest.mark.time_machine(AT)
@pytest.mark.parametrize("service", SERVICE_CALLS)
@pytest.mark.parametrize(
    "actor", ["viewer", "inactive superuser", "superuser not staff", "system"]
)
def test_each_endpoint_power_is_checked_in_the_service_itself(
    disabled_endpoint, service, actor
):
    """What a hand-made request or any other caller reaches: the rule holds
    without the admin in front."""
    before = WebhookEndpoint.objects.get(pk=disabled_endpoint.pk)
    staff_user = {
        "viewer": lambda: StaffUserFactory(perms=["billing.view_webhookendpoint"]),
        "inactive superuser": lambda: UserFactory(
            is_staff=True, is_superuser=True, is_active=False
        ),
        "superuser not staff": lambda: UserFactory(is_superuser=True),
        "system": lambda: None,
    }[actor]()
    call = getattr(webhook_endpoints, service)
    if service == "resend":
        kwargs = {"deliveries": list(disabled_endpoint.deliveries.all())}
    else:
        kwargs = {"endpoint": disabled_endpoint, **SERVICE_CALLS[service]}

    with pytest.raises(MissingPermission):
        call(actor=staff_user, **kwargs)
    with pytest.raises(MissingPermission):
        webhook_endpoints.create_endpoint(
            url="https://93.184.216.34/new",
            event_types=[EventType.PERIOD_CLOSED],
            actor=staff_user,
        )

    assert unchanged(disabled_endpoint, before)
    assert WebhookEndpoint.objects.count() == 1


@pytest.mark.time_machine(AT)
@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize(
    "perms", [[], ["billing.view_webhookdelivery", "billing.add_webhookendpoint"]]
)
def test_staff_who_cannot_see_endpoints_get_403_from_every_tool(
    client, disabled_endpoint, name, perms
):
    before = WebhookEndpoint.objects.get(pk=disabled_endpoint.pk)
    client.force_login(StaffUserFactory(perms=perms))

    assert client.get(tool(disabled_endpoint, name)).status_code == 403
    assert client.post(tool(disabled_endpoint, name)).status_code == 403
    assert unchanged(disabled_endpoint, before)


@pytest.mark.time_machine(AT)
@pytest.mark.parametrize("name", PAGES)
def test_a_signed_in_customer_is_sent_to_the_admin_login(
    client, disabled_endpoint, name
):
    before = WebhookEndpoint.objects.get(pk=disabled_endpoint.pk)
    client.force_login(UserFactory())

    response = client.post(tool(disabled_endpoint, name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert unchanged(disabled_endpoint, before)


@pytest.mark.time_machine(AT)
@pytest.mark.parametrize("name", TOOLS)
def test_every_tool_needs_the_csrf_token(admin_user, disabled_endpoint, name):
    before = WebhookEndpoint.objects.get(pk=disabled_endpoint.pk)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)

    response = browser.post(tool(disabled_endpoint, name), {"since": "2000-01-01"})

    assert response.status_code == 403
    assert unchanged(disabled_endpoint, before)
