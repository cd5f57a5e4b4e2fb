"""Fixtures of the webhook attack tests: a raw loopback server for answers
no well-behaved HTTP server gives, and a disabled endpoint holding a delivery."""

import socket
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from billing.models import EventType, WebhookEndpoint
from tests.factories.billing import WebhookEndpointFactory

from .helpers import AT, Status, a_delivery, an_event


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket], None]], int]]:
    """Start a server whose ``reply(conn)`` writes whatever it likes;
    returns its port."""
    servers: list[socket.socket] = []

    def start(reply: Callable[[socket.socket], None]) -> int:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(5)
        servers.append(server)

        def serve() -> None:
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                threading.Thread(target=_reply, args=(conn,), daemon=True).start()

        def _reply(conn: socket.socket) -> None:
            try:
                reply(conn)
            except OSError:
                pass  # the client hung up, as it should
            finally:
                conn.close()

        threading.Thread(target=serve, daemon=True).start()
        return server.getsockname()[1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def disabled_endpoint() -> WebhookEndpoint:
    endpoint = WebhookEndpointFactory(disabled_at=AT, disabled_reason="Failing.")
    held = a_delivery(endpoint)
    held.status = Status.HELD
    held.save(update_fields=["status"])
    an_event(EventType.PERIOD_CLOSED, created_at=AT - timedelta(hours=1))
    return endpoint
