"""Where a webhook may go: URLs dressed up to reach a private or metadata
address are refused, and a name that rebinds gets no request. DNS is outside
the service: a monkeypatched ``socket.getaddrinfo`` is the hostile resolver."""

import socket

import pytest

from billing.errors import UnsafeWebhookUrl
from billing.services.webhook_deliveries import deliver_webhook
from billing.webhook_transport import check_destination, post
from tests.factories.billing import WebhookEndpointFactory

from .helpers import AT, a_delivery, hostile_resolver, read_request

pytestmark = pytest.mark.django_db


# The URL check: dressed-up addresses ----------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        # IPv4 spelled the ways inet_aton reads it.
        "https://2852039166/",
        "https://0xa9fea9fe/",
        "https://0xa9.0xfe.0xa9.0xfe/",
        "https://0251.0376.0251.0376/",
        "https://169.254.43518/",
        "https://0x7f.1/",
        "https://127.1/",
        "https://0177.0.0.1/",
        "https://0/",
        "https://0.0.0.0/",
        # Unicode digits and dots a resolver folds to ASCII.
        "https://１６９.２５４.１６９.２５４/",
        "https://169。254。169。254/",
        # IPv6 forms of loopback, metadata and link-local.
        "https://[::]/",
        "https://[::1]/",
        "https://[0:0:0:0:0:0:0:1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::ffff:a9fe:a9fe]/",
        "https://[0:0:0:0:0:ffff:a9fe:a9fe]/",
        "https://[2002:a9fe:a9fe::]/",  # 6to4
        "https://[2001:0:a9fe:a9fe::]/",  # Teredo
        "https://[fe80::1%25eth0]/",
        "https://[fd00:ec2::254]/",
        # Trailing dots, case.
        "https://169.254.169.254./",
        "HTTPS://169.254.169.254/",
        "https://METADATA.GOOGLE.INTERNAL./",
        "https://metadata./",
        # Who is the host? Userinfo and backslashes.
        "https://good.example.com@169.254.169.254/",
        "https://good.example.com:443@169.254.169.254/",
        "https://169.254.169.254\\@good.example.com/",
        "https://good.example.com\\@169.254.169.254/",
        "https://169.254.169.254#@good.example.com/",
        "https://169.254.169.254?@good.example.com/",
        # Whitespace and line breaks around or inside the host.
        " https://169.254.169.254/ ",
        "https://169.254.\n169.254/",
        "https://169.254.169.254\t/",
        # Not https, or no host.
        "http://93.184.216.34/",
        "https:/169.254.169.254/",
        "https:///169.254.169.254/",
        "javascript:alert(1)//93.184.216.34/",
        "file:///etc/passwd",
        "https://93.184.216.34:+443/",
        "https://93.184.216.34:65536/",
    ],
)
def test_a_dressed_up_private_or_metadata_url_is_refused(settings, url):
    settings.BILLING_WEBHOOK_PRIVATE_HOSTS = []  # as in production

    with pytest.raises(UnsafeWebhookUrl):
        check_destination(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/",
        "http://169.254.169.254./",
        "http://[::ffff:169.254.169.254]/",
        "http://0xa9fea9fe/",
        "http://metadata.google.internal/",
        "http://100.100.100.200/",
        "http://169.254.170.2/",
    ],
)
def test_listing_the_private_network_never_opens_metadata(settings, url):
    settings.BILLING_WEBHOOK_PRIVATE_HOSTS = [
        "0.0.0.0/0",
        "::/0",
        "metadata.google.internal",
    ]

    with pytest.raises(UnsafeWebhookUrl):
        check_destination(url)


@pytest.mark.parametrize(
    "answers",
    [
        ["93.184.216.34", "169.254.169.254"],  # one good address among them
        ["::ffff:169.254.169.254"],
        ["fe80::1%eth0"],
        ["10.0.0.8"],
        ["::1"],
        ["0.0.0.0"],
    ],
)
def test_a_name_is_refused_if_any_address_it_resolves_to_is(
    settings, monkeypatch, answers
):
    settings.BILLING_WEBHOOK_PRIVATE_HOSTS = []
    hostile_resolver(monkeypatch, lambda name: answers)

    with pytest.raises(UnsafeWebhookUrl) as refused:
        check_destination("https://hooks.example.com/in")
    assert "hooks.example.com resolves to" in refused.value.message


# DNS rebinding --------------------------------------------------------------


def test_the_connection_goes_to_the_address_that_was_checked(
    settings, monkeypatch, raw_server
):
    """The name answers loopback when checked and the metadata address ever
    after: the request still reaches the checked address, named in Host."""
    settings.BILLING_WEBHOOK_PRIVATE_HOSTS = ["hooks.internal"]
    received: list[bytes] = []

    def reply(conn: socket.socket) -> None:
        received.append(read_request(conn))
        conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    port = raw_server(reply)
    answers = iter([["127.0.0.1"]])
    asked = hostile_resolver(
        monkeypatch, lambda name: next(answers, ["169.254.169.254"])
    )

    answer = post(url=f"http://hooks.internal:{port}/in", body=b"{}", headers={})

    assert answer.status_code == 204
    assert asked == ["hooks.internal"]  # resolved once, then its address used
    assert f"Host: hooks.internal:{port}" in received[0].decode()


@pytest.mark.time_machine(AT, tick=False)
def test_a_name_that_rebinds_after_it_was_saved_gets_no_request(
    settings, monkeypatch, receiver
):
    """Public when saved, loopback at the attempt: refused, nothing sent."""
    settings.BILLING_WEBHOOK_PRIVATE_HOSTS = []
    port = receiver.server.server_address[1]
    answers = {"now": "93.184.216.34"}
    hostile_resolver(monkeypatch, lambda name: [answers["now"]])
    endpoint = WebhookEndpointFactory(url=f"https://hooks.example.com:{port}/hooks")
    check_destination(endpoint.url)  # what saving it checks
    delivery = a_delivery(endpoint)
    answers["now"] = "127.0.0.1"

    attempt = deliver_webhook(delivery_id=delivery.pk)

    assert attempt is not None
    attempt.refresh_from_db()
    assert attempt.status_code is None
    assert attempt.error.startswith("Refused: hooks.example.com resolves to 127.0.0.1")
    assert receiver.requests == []
