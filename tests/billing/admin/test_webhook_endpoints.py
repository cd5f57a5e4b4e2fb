"""Webhook endpoints in the admin: saved through their services, the URL
and types checked on the form, the secret shown once on creation.
"""

import pytest
from django.contrib.admin.models import ADDITION, LogEntry

from billing.models import (
    EventType,
    WebhookEndpoint,
)
from tests.factories.billing import (
    WebhookEndpointFactory,
)

from .helpers import (
    AT,
    url,
)

pytestmark = pytest.mark.django_db


def add_form(**overrides: object) -> dict[str, object]:
    return {
        "url": "http://127.0.0.1:9/hooks",
        "description": "Platform",
        "event_types": list(EventType.values),
        "is_active": "on",
        **overrides,
    }


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
    assert (endpoint.url, endpoint.event_types, endpoint.created_by) == (
        "http://127.0.0.1:9/hooks",
        sorted(EventType.values),
        admin_user,
    )
    assert LogEntry.objects.get(object_id=str(endpoint.pk)).action_flag == ADDITION


@pytest.mark.time_machine(AT)
def test_the_secret_is_not_shown_again_on_reload_or_the_change_page(admin_client):
    response = admin_client.post(url(WebhookEndpoint, "add"), add_form(), follow=True)
    endpoint = WebhookEndpoint.objects.get()

    reload = admin_client.get(response.redirect_chain[-1][0], follow=True)
    change = admin_client.get(url(WebhookEndpoint, "change", endpoint.pk))

    # Reloading neither shows the secret again nor adds an endpoint.
    assert endpoint.secret not in reload.content.decode()
    assert "shown once and cannot be shown again" in reload.content.decode()
    assert WebhookEndpoint.objects.count() == 1
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
