"""Hostile receivers: a redirect is not followed, an answer that never ends
is read only so far, and line breaks in a path add no header. Every request
goes to a raw server on 127.0.0.1."""

import socket
import time

import pytest

from billing.webhook_transport import EXCERPT_BYTES, post

from .helpers import read_request

pytestmark = pytest.mark.django_db


def test_a_redirect_is_not_followed_to_where_it_points(settings, raw_server):
    settings.BILLING_WEBHOOK_PRIVATE_HOSTS = ["127.0.0.1"]
    followed: list[bytes] = []
    target = raw_server(lambda conn: followed.append(read_request(conn)))

    def redirect(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(
            b"HTTP/1.1 307 Temporary Redirect\r\n"
            b"Location: http://127.0.0.1:%d/stolen\r\nContent-Length: 0\r\n\r\n"
            % target
        )

    port = raw_server(redirect)

    answer = post(url=f"http://127.0.0.1:{port}/in", body=b"{}", headers={})
    time.sleep(0.2)  # room for a follow-up request, were one made

    assert (answer.status_code, answer.succeeded) == (307, False)
    assert followed == []


def endless_body(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 65536
    while True:
        conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))


def endless_headers(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    while True:
        conn.sendall(b"X-More: 1\r\n" * 1000)


def endless_header_line(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Long: ")
    while True:
        conn.sendall(b"a" * 65536)


def lying_length(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n" + b"z" * 5000
    )
    time.sleep(10)


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (endless_body, 200),
        (lying_length, 200),
        (endless_headers, None),
        (endless_header_line, None),
    ],
)
def test_a_never_ending_answer_is_read_only_so_far(settings, raw_server, reply, status):
    settings.BILLING_WEBHOOK_PRIVATE_HOSTS = ["127.0.0.1"]
    settings.BILLING_WEBHOOK_TIMEOUT_SECONDS = 2
    port = raw_server(reply)

    started = time.monotonic()
    answer = post(url=f"http://127.0.0.1:{port}/in", body=b"{}", headers={})

    assert time.monotonic() - started < 2
    assert answer.status_code == status
    assert len(answer.excerpt.encode()) <= EXCERPT_BYTES
    assert len(answer.error) <= 300


def test_line_breaks_and_spaces_in_the_path_add_no_header(settings, raw_server):
    settings.BILLING_WEBHOOK_PRIVATE_HOSTS = ["127.0.0.1"]
    received: list[bytes] = []

    def reply(conn: socket.socket) -> None:
        received.append(read_request(conn))
        conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    port = raw_server(reply)
    base = f"http://127.0.0.1:{port}"

    for url in (
        f"{base}/in\r\nX-Injected: 1\r\n",
        f"{base}/in%0d%0aX-Injected:%201",
        f"{base}/in X-Injected: 1",
        f"{base}/in?q=\r\nX-Injected: 1",
    ):
        answer = post(url=url, body=b"{}", headers={})
        # Sent with the path encoded, or refused outright: either is safe.
        assert answer.status_code == 204 or answer.error.startswith("Refused:")

    for request in received:
        lines = request.decode("latin-1").split("\r\n")
        assert not any(line.lower().startswith("x-injected") for line in lines)
        assert lines[0].startswith("POST /in") and lines[0].endswith(" HTTP/1.1")
