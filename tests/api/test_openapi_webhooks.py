"""The OpenAPI document lists every outbound webhook, and what the service
really sends matches the schema it publishes."""

import json
from datetime import UTC, datetime
from typing import Any

import jsonschema_rs
import pytest
from django.test import Client
from django.utils import timezone

from billing.models import EventType, Pack, WebhookEvent
from billing.services.packs import purchase_pack
from billing.services.refunds import refund_charge
from billing.services.usage import UsageEventInput, record_usage_events
from billing.services.webhook_deliveries import event_body, signed_headers
from billing.units import GB
from tests.factories.accounts import UserFactory
from tests.factories.billing import WebhookEndpointFactory, owner_of, personal_account

pytestmark = pytest.mark.django_db

AT = datetime(2026, 4, 16, 12, tzinfo=UTC)
HEADERS = {"webhook-id", "webhook-timestamp", "webhook-signature"}


@pytest.fixture
def document() -> dict[str, Any]:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def closed(schema: Any) -> Any:
    """The schema with no undocumented key allowed in any object, so a field
    the service sends but the document does not describe fails the test."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: closed(value) for key, value in schema.items()}
    if schema.get("type") == "object" and "properties" in schema:
        schema["additionalProperties"] = False
    return schema


def body_validator(document: dict, event_type: str) -> jsonschema_rs.Validator:
    operation = document["webhooks"][event_type]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    return jsonschema_rs.validator_for(
        {**schema, "components": closed(document["components"])},
        validate_formats=True,
    )


def test_every_event_type_is_a_documented_webhook(document):
    assert document["openapi"] == "3.1.0"
    assert set(document["webhooks"]) == set(EventType.values)
    schemas = document["components"]["schemas"]
    for event_type, item in document["webhooks"].items():
        operation = item["post"]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        envelope = schemas[ref.removeprefix("#/components/schemas/")]
        assert envelope["properties"]["type"]["const"] == event_type
        assert set(envelope["required"]) == {"id", "type", "timestamp", "data"}
        assert {p["name"] for p in operation["parameters"]} == HEADERS
        assert all(
            p["in"] == "header" and p["required"] for p in operation["parameters"]
        )
        assert "2XX" in operation["responses"]


def test_the_api_paths_are_unchanged_by_the_webhooks(document):
    assert "/api/v1/usage/events" in document["paths"]
    assert not any("webhook" in path for path in document["paths"])


@pytest.mark.time_machine(AT)
def test_the_events_of_a_purchase_and_its_refund_match_their_schemas(
    document, django_capture_on_commit_callbacks
):
    account = personal_account()
    account.external_id = "user-42"
    account.save()
    with django_capture_on_commit_callbacks(execute=True):
        record_usage_events(
            events=[
                UsageEventInput(
                    id="over", account=account, meter="bandwidth", quantity=6 * GB
                )
            ]
        )
    with django_capture_on_commit_callbacks(execute=True):
        bought = purchase_pack(
            account=account,
            pack=Pack.objects.get(code="bandwidth-100gb-once"),
            actor=owner_of(account),
            idempotency_key="buy-1",
        )
    with django_capture_on_commit_callbacks(execute=True):
        refund_charge(
            charge=bought.charge,
            actor=UserFactory(is_staff=True, is_superuser=True),
            amount_cents=300,
            customer_reason="Bought by mistake",
        )

    events = list(WebhookEvent.objects.order_by("pk"))
    assert {event.type for event in events} >= {
        "quota.exceeded",
        "purchase.completed",
        "quota.resolved",
        "charge.refunded",
    }
    for event in events:
        body = json.loads(event_body(event))
        validator = body_validator(document, event.type)
        assert list(validator.iter_errors(body)) == [], event.type
        # Not a vacuous schema: the account is required, the type fixed.
        unnamed = {
            key: value for key, value in body["data"].items() if key != "account"
        }
        assert not validator.is_valid({**body, "data": unnamed})
        assert not validator.is_valid({**body, "type": "quota.unknown"})


@pytest.mark.time_machine(AT)
def test_the_signed_headers_are_the_documented_parameters(document):
    account = personal_account()
    event = WebhookEvent.objects.create(
        event_id="evt_0123456789abcdef0123456789abcdef",
        type=EventType.PERIOD_CLOSED,
        account=account,
        occurred_at=AT,
        data={
            "account": None,
            "period_start": "2026-03-01",
            "period_end": "2026-04-01",
            "overage_charges": [],
            "overage_total_cents": 0,
        },
    )
    endpoint = WebhookEndpointFactory(
        previous_secret=WebhookEndpointFactory.build().secret,
        previous_secret_expires_at=AT.replace(day=17),
    )
    body = event_body(event)
    headers = signed_headers(
        event=event, endpoint=endpoint, body=body, at=timezone.now()
    )

    parameters = document["webhooks"]["period.closed"]["post"]["parameters"]
    assert {name for name in headers if name.startswith("webhook-")} == HEADERS
    for parameter in parameters:
        validator = jsonschema_rs.validator_for(parameter["schema"])
        assert validator.is_valid(headers[parameter["name"]]), parameter["name"]
    assert len(headers["webhook-signature"].split(" ")) == 2  # during a rotation
    assert body_validator(document, "period.closed").is_valid(json.loads(body))
