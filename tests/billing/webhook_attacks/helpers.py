"""What the webhook attack tests share: instants, hostile markup, the admin's
endpoint tools, events and deliveries to attack with, a hostile resolver."""

import socket
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import count

from django.urls import reverse

from billing.models import EventType, WebhookDelivery, WebhookEndpoint, WebhookEvent
from tests.factories.billing import personal_account

AT = datetime(2026, 4, 16, 12, tzinfo=UTC)
Status = WebhookDelivery.Status
MARKUP = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
TOOLS = ("rotate", "enable", "resend", "replay")
PAGES = (*TOOLS, "secret")  # the tools and the page that shows a secret once
_numbers = count(1)


def tool(endpoint: WebhookEndpoint, name: str) -> str:
    return reverse(f"admin:billing_webhookendpoint_{name}", args=[endpoint.pk])


def admin_url(model: type, view: str, *args: object) -> str:
    return reverse(f"admin:billing_{model._meta.model_name}_{view}", args=args)


def an_event(
    type: str = EventType.PERIOD_CLOSED,
    *,
    created_at: datetime = AT,
    data: dict | None = None,
    external_id: str = "",
    name: str = "Acme",
) -> WebhookEvent:
    n = next(_numbers)
    external_id = external_id or f"acct-{n}"
    account = personal_account()
    account.external_id, account.name = external_id, name
    account.save(update_fields=["external_id", "name"])
    return WebhookEvent.objects.create(
        event_id=f"evt_attack{n:04d}",
        type=type,
        account=account,
        occurred_at=created_at,
        created_at=created_at,
        data=data or {"account": external_id},
    )


def a_delivery(endpoint: WebhookEndpoint, **kwargs: object) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        event=an_event(**kwargs),
        endpoint=endpoint,
        next_attempt_at=AT,
        window_started_at=AT,
    )


def read_request(conn: socket.socket) -> bytes:
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def hostile_resolver(monkeypatch, answers: Callable[[str], list[str]]) -> list[str]:
    """Answer names with ``answers(name)``; numeric hosts resolve as usual
    (the connection to a checked address resolves its literal). Returns the
    names asked, in order."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        except OSError:
            asked.append(host)
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port),
                )
                for a in answers(host)
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr("billing.webhook_transport.socket.getaddrinfo", getaddrinfo)
    return asked
