"""docs/webhooks.md says what the service does: every event type is
documented with an example that matches its schema, the sample request is
really signed, the retry table is the default schedule, and the Python
verification example, run as written, accepts a delivery the service signed
and refuses a forged one."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from django.conf import settings
from django.test import RequestFactory
from django.utils import timezone
from standardwebhooks import Webhook

from billing.api.webhooks_openapi import ENVELOPES
from billing.models import EventType, WebhookEvent
from billing.services.webhook_deliveries import event_body, signed_headers
from tests.factories.billing import WebhookEndpointFactory

DOC = (Path(settings.BASE_DIR) / "docs" / "webhooks.md").read_text()
AT = datetime(2026, 4, 16, 12, tzinfo=UTC)


def blocks(language: str, text: str = DOC) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)


def section(heading: str) -> str:
    """The text under a heading, up to the next heading of any level."""
    start = DOC.index(f"\n{heading}\n") + len(heading) + 2
    following = re.search(r"^#{1,6} ", DOC[start:], re.M)
    return DOC[start : start + following.start()] if following else DOC[start:]


def closed(schema: Any) -> Any:
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: closed(value) for key, value in schema.items()}
    if schema.get("type") == "object" and "properties" in schema:
        schema["additionalProperties"] = False
    return schema


@pytest.mark.parametrize("event_type", EventType.values)
def test_each_event_has_a_section_whose_example_matches_its_schema(event_type):
    (example, *_) = blocks("json", section(f"### `{event_type}`"))
    body = json.loads(example)

    assert body["type"] == event_type
    schema = closed(ENVELOPES[event_type].model_json_schema())
    validator = jsonschema_rs.validator_for(schema, validate_formats=True)
    assert list(validator.iter_errors(body)) == []


def test_the_sample_request_is_signed_with_the_documented_secret():
    (request,) = blocks("http")
    head, body = request.rstrip("\n").split("\n\n")
    headers = dict(line.split(": ", 1) for line in head.splitlines()[1:])
    (secret,) = set(re.findall(r"`(whsec_[A-Za-z0-9+/=]+)`", DOC))

    signature = Webhook(secret).sign(
        msg_id=headers["webhook-id"],
        timestamp=datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC),
        data=body,
    )

    assert headers["webhook-signature"] == signature
    assert json.loads(body)["id"] == headers["webhook-id"]
    (example, *_) = blocks("json", section("### `quota.warning`"))
    assert body == json.dumps(json.loads(example), separators=(",", ":"))


def test_the_retry_table_is_the_default_schedule():
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \|", section("### Retries"), re.M)
    units = {"s": 1, "min": 60, "h": 3600}
    waits = []
    for _, wait in rows[1:]:
        amount, unit = re.match(r"(\d+) (s|min|h)\b", wait).groups()
        waits.append(int(amount) * units[unit])

    assert [int(n) for n, _ in rows] == list(range(1, len(rows) + 1))
    assert waits == settings.BILLING_WEBHOOK_RETRY_SCHEDULE
    hours = sum(waits) / 3600
    assert f"({hours:.1f} h)" in section("### Retries")


@pytest.mark.django_db
def test_the_python_example_accepts_a_signed_delivery_and_refuses_a_forged_one(
    monkeypatch,
):
    (example,) = [code for code in blocks("python") if "standardwebhooks" in code]
    endpoint = WebhookEndpointFactory()
    monkeypatch.setenv("BILLING_WEBHOOK_SECRET", endpoint.secret)
    handled: list[dict] = []
    receiver: dict[str, Any] = {"handle_event": handled.append}
    exec(compile(example, "docs/webhooks.md", "exec"), receiver)
    event = WebhookEvent.objects.create(
        event_id="evt_5d0c1f7be2a94c08a3e6b9d12f4c7a18",
        type=EventType.PERIOD_CLOSED,
        occurred_at=AT,
        data={
            "account": "co_42",
            "period_start": "2026-03-01",
            "period_end": "2026-04-01",
            "overage_charges": [],
            "overage_total_cents": 0,
        },
    )
    body = event_body(event)

    def deliver(content: bytes, *, signed_by=endpoint, at=None) -> int:
        headers = signed_headers(
            event=event, endpoint=signed_by, body=body, at=at or timezone.now()
        )
        request = RequestFactory().post(
            "/hooks/billing",
            data=content,
            content_type="application/json",
            headers={k: v for k, v in headers.items() if k.startswith("webhook-")},
        )
        return receiver["billing_webhook"](request).status_code

    assert deliver(body) == 204
    assert handled == [json.loads(body)]

    assert deliver(body.replace(b'"co_42"', b'"co_43"')) == 400
    assert deliver(body, signed_by=WebhookEndpointFactory.build()) == 400
    stale = timezone.now() - timedelta(minutes=6)
    assert deliver(body, at=stale) == 400
    assert len(handled) == 1

    # During a rotation both secrets sign: the receiver's old one still works.
    rotated = WebhookEndpointFactory.build(
        previous_secret=endpoint.secret,
        previous_secret_expires_at=timezone.now() + timedelta(hours=24),
    )
    assert deliver(body, signed_by=rotated) == 204
    assert len(handled) == 2


def test_every_link_inside_the_page_has_its_heading():
    slugs = {
        re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        for heading in re.findall(r"^#{1,6} (.+)$", DOC, re.M)
    }
    anchors = set(re.findall(r"\]\(#([^)]+)\)", DOC))

    assert anchors and anchors <= slugs, anchors - slugs
