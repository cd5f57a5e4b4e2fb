"""Chunked request bodies under the production server (gunicorn).

Django's test client and runserver never send ``Transfer-Encoding: chunked``,
so this starts gunicorn on the test database and speaks HTTP to it.
"""

import http.client
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from billing.models import UsageEvent
from billing.services.api_keys import create_api_key
from tests.factories.billing import PlatformAccountFactory
from tests.processes import free_port, process_env

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("seeded_catalogue"),
]


@pytest.fixture
def gunicorn() -> Iterator[int]:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "config.wsgi:application",
        ],
        cwd=ROOT,
        env=process_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(server.stderr.read().decode()[-2000:]) from None
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(10)


def _post_chunked(port: int, chunks: Iterator[bytes], *, key: str | None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        connection.request(
            "POST",
            "/api/v1/usage/events",
            body=chunks,
            headers=headers,
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def _batch(event_id: str) -> bytes:
    event = {"id": event_id, "account": "acme", "meter": "bandwidth", "quantity": 5}
    return json.dumps({"events": [event]}).encode()


def test_a_valid_chunked_body_is_read_like_any_other(gunicorn):
    PlatformAccountFactory(external_id="acme")
    key = create_api_key(name="chunked").raw_key
    body = _batch("e-1")
    chunks = iter([body[:10], body[10:25], body[25:]])
    status, answer = _post_chunked(gunicorn, chunks, key=key)
    assert (status, answer) == (200, {"accepted": 1, "duplicates": 0})
    assert UsageEvent.objects.count() == 1


def test_a_chunked_body_over_1_mib_is_413(gunicorn):
    PlatformAccountFactory(external_id="acme")
    key = create_api_key(name="chunked").raw_key
    chunks = (b" " * 65536 for _ in range(17))  # 1.06 MiB of whitespace
    status, answer = _post_chunked(gunicorn, chunks, key=key)
    assert status == 413
    assert answer["error"]["code"] == "payload_too_large"
    assert not UsageEvent.objects.exists()


def test_a_chunked_body_without_a_key_is_401(gunicorn):
    status, answer = _post_chunked(gunicorn, iter([_batch("e-1")]), key=None)
    assert status == 401
    assert answer["error"]["code"] == "unauthorized"


def test_a_malformed_chunked_body_is_400_not_a_server_error(gunicorn):
    key = create_api_key(name="chunked").raw_key
    with socket.create_connection(("127.0.0.1", gunicorn), timeout=20) as sock:
        sock.sendall(
            b"POST /api/v1/usage/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + key.encode() + b"\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b'"code": "invalid_request"' in body  # the envelope, sent chunked
