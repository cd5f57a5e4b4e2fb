"""Markup from receivers, payloads and staff is shown as text in the admin."""

import pytest

from billing.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from tests.factories.billing import WebhookEndpointFactory

from .helpers import AT, ESCAPED, MARKUP, a_delivery, admin_url, tool

pytestmark = pytest.mark.django_db


@pytest.mark.time_machine(AT)
def test_markup_from_a_receiver_or_a_payload_is_shown_as_text(admin_client):
    endpoint = WebhookEndpointFactory(
        url=f"https://93.184.216.34/in?x={MARKUP}", description=MARKUP
    )
    delivery = a_delivery(
        endpoint,
        external_id=f"x{MARKUP}"[:64],
        name=MARKUP,
        data={"account": "x", "reason": MARKUP},
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(last_error=MARKUP)
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=1,
        started_at=AT,
        finished_at=AT,
        status_code=500,
        response_excerpt=MARKUP,
        error=MARKUP,
    )

    pages = {
        "delivery": admin_client.get(admin_url(WebhookDelivery, "change", delivery.pk)),
        "deliveries": admin_client.get(admin_url(WebhookDelivery, "changelist")),
        "event": admin_client.get(admin_url(WebhookEvent, "change", delivery.event.pk)),
        "events": admin_client.get(admin_url(WebhookEvent, "changelist")),
        "endpoints": admin_client.get(admin_url(WebhookEndpoint, "changelist")),
        "endpoint": admin_client.get(admin_url(WebhookEndpoint, "change", endpoint.pk)),
        "rotate": admin_client.get(tool(endpoint, "rotate")),
        "replay": admin_client.get(tool(endpoint, "replay")),
        "replayed": admin_client.post(
            tool(endpoint, "replay"), {"since": "2000-01-01T00:00"}, follow=True
        ),
    }

    for name, page in pages.items():
        html = page.content.decode()
        assert page.status_code == 200, name
        assert MARKUP not in html, name
    assert ESCAPED in pages["delivery"].content.decode()


@pytest.mark.time_machine(AT)
def test_markup_in_a_disabled_reason_or_url_is_text_on_the_enable_page(
    admin_client,
):
    endpoint = WebhookEndpointFactory(
        url=f"https://93.184.216.34/{MARKUP}", disabled_at=AT, disabled_reason=MARKUP
    )

    page = admin_client.get(tool(endpoint, "enable"))
    listing = admin_client.get(admin_url(WebhookEndpoint, "changelist"))
    enabled = admin_client.post(tool(endpoint, "enable"), follow=True)

    for response in (page, listing, enabled):
        assert MARKUP not in response.content.decode()
    assert ESCAPED in page.content.decode()
