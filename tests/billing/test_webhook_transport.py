"""Where webhooks may go: https and public addresses, the listed private
network, never link-local or metadata addresses; and the request itself."""

import pytest

from billing.errors import UnsafeWebhookUrl
from billing.webhook_transport import check_destination, post


@pytest.fixture(autouse=True)
def private_network(settings):
    settings.BILLING_WEBHOOK_PRIVATE_HOSTS = ["10.0.0.0/8", "hooks.internal"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://93.184.216.34/hooks", "Use https"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("https://[fd00:ec2::254]/", "metadata"),
        ("https://[::ffff:169.254.169.254]/", "metadata"),
        ("https://169.254.10.1/", "link-local"),
        ("https://[fe80::1]/", "link-local"),
        ("https://metadata.google.internal/", "metadata"),
        ("https://127.0.0.1/hooks", "not a public address"),
        ("https://192.168.1.5/hooks", "not a public address"),
        ("https://user:pw@93.184.216.34/", "no user name"),
        ("ftp://93.184.216.34/", "full http(s) URL"),
        ("https://93.184.216.34:99999/", "port"),
    ],
)
def test_unsafe_urls_are_refused_with_the_reason(url, reason):
    with pytest.raises(UnsafeWebhookUrl) as excinfo:
        check_destination(url)
    assert reason in excinfo.value.message


def test_the_listed_private_network_may_use_http(settings):
    assert check_destination("http://10.1.2.3:8080/in?x=1").target == "/in?x=1"
    # Listing a network never opens the metadata service inside it.
    settings.BILLING_WEBHOOK_PRIVATE_HOSTS = ["169.254.0.0/16"]
    with pytest.raises(UnsafeWebhookUrl):
        check_destination("http://169.254.169.254/")


def test_a_public_https_address_is_allowed():
    destination = check_destination("https://93.184.216.34/billing")
    assert (destination.port, destination.target) == (443, "/billing")


def test_a_listed_name_must_still_not_resolve_to_a_metadata_address(monkeypatch):
    # DNS is outside the service: answer as a hostile resolver would.
    monkeypatch.setattr(
        "billing.webhook_transport.socket.getaddrinfo",
        lambda *a, **k: [(2, 1, 6, "", ("169.254.169.254", 443))],
    )
    with pytest.raises(UnsafeWebhookUrl) as excinfo:
        check_destination("https://hooks.internal/in")
    assert "metadata" in excinfo.value.message


def test_an_attempt_to_a_name_now_resolving_to_a_private_address_is_refused(
    monkeypatch,
):
    monkeypatch.setattr(
        "billing.webhook_transport.socket.getaddrinfo",
        lambda *a, **k: [(2, 1, 6, "", ("127.0.0.1", 443))],
    )
    answer = post(url="https://hooks.example.com/in", body=b"{}", headers={})
    assert answer.status_code is None
    assert answer.error.startswith("Refused:")


def test_a_silent_receiver_times_out(settings):
    import socket

    settings.BILLING_WEBHOOK_TIMEOUT_SECONDS = 0.5
    settings.BILLING_WEBHOOK_PRIVATE_HOSTS = ["127.0.0.1"]
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()  # accepts the connection, never answers
        port = server.getsockname()[1]
        answer = post(url=f"http://127.0.0.1:{port}/", body=b"{}", headers={})
    assert (answer.status_code, answer.error) == (None, "No answer within 0.5 s.")
    assert answer.duration_ms < 5000
