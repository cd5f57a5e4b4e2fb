"""Attacks on the outbound webhooks that are refused today.

Each test plays an attacker: a URL dressed up to reach a private or
metadata address, a resolver that answers one thing when checked and
another when used, a hostile receiver, a staff user reaching for a power
they do not hold, markup in what the admin shows. DNS is outside the
service: a monkeypatched ``socket.getaddrinfo`` is the hostile resolver.
Every request goes to 127.0.0.1.
"""

import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from django.urls import reverse

from billing.errors import MissingPermission, UnsafeWebhookUrl
from billing.models import (
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from billing.services import webhook_endpoints
from billing.services.webhook_deliveries import (
    _claim,
    _record,
    deliver_due_webhooks,
    deliver_webhook,
    disable_if_failing,
)
from billing.services.webhook_endpoints import replay_events, resend
from billing.tasks import email_staff_endpoint_disabled
from billing.webhook_transport import (
    EXCERPT_BYTES,
    Answer,
    check_destination,
    post,
)
from tests.factories.accounts import StaffUserFactory, UserFactory
from tests.factories.billing import WebhookEndpointFactory, personal_account

pytestmark = pytest.mark.django_db

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


# A raw loopback server, for answers no well-behaved HTTP server gives -------


def read_request(conn: socket.socket) -> bytes:
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


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


# DNS rebinding ----------------------------------------------------------------


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


# Hostile receivers --------------------------------------------------------------


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


# Claims, resends and replays ----------------------------------------------------


def test_a_delivery_is_claimed_once_until_its_lease_expires(settings):
    settings.BILLING_WEBHOOK_LEASE_SECONDS = 60
    delivery = a_delivery(WebhookEndpointFactory())

    first = _claim(delivery_id=delivery.pk, now=AT)
    again = _claim(delivery_id=delivery.pk, now=AT)
    before_the_end = _claim(delivery_id=delivery.pk, now=AT + timedelta(seconds=59))
    after_the_end = _claim(delivery_id=delivery.pk, now=AT + timedelta(seconds=61))

    assert first is not None and after_the_end is not None
    assert (again, before_the_end) == (None, None)
    assert list(delivery.attempts.values_list("number", flat=True)) == [1, 2]
    assert delivery.attempts.get(number=1).finished_at is not None  # abandoned


@pytest.mark.time_machine(AT, tick=False)
def test_the_late_answer_of_an_expired_attempt_does_not_settle_the_delivery(
    settings,
):
    settings.BILLING_WEBHOOK_LEASE_SECONDS = 60
    delivery = a_delivery(WebhookEndpointFactory())
    stale = _claim(delivery_id=delivery.pk, now=AT)
    current = _claim(delivery_id=delivery.pk, now=AT + timedelta(seconds=61))
    assert stale is not None and current is not None

    _record(stale, Answer(status_code=200), now=AT + timedelta(seconds=62))

    delivery.refresh_from_db()
    assert delivery.status == Status.PENDING
    assert delivery.attempt_count == 2
    assert delivery.lease_expires_at == AT + timedelta(seconds=121)


@pytest.mark.time_machine(AT, tick=False)
def test_resending_a_failed_delivery_many_times_sends_it_once(
    receiver, django_capture_on_commit_callbacks
):
    staff = UserFactory(is_staff=True, is_superuser=True)
    endpoint = WebhookEndpointFactory(url=receiver.url)
    delivery = a_delivery(endpoint)
    delivery.status = Status.FAILED
    delivery.save(update_fields=["status"])

    # Five clicks; their five queued attempts run together after the commit.
    with django_capture_on_commit_callbacks(execute=True) as queued:
        for _ in range(5):
            resend(deliveries=[delivery], staff_user=staff)
    deliver_due_webhooks()

    assert len(queued) == 5
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().status == Status.DELIVERED


@pytest.mark.time_machine(AT, tick=False)
def test_replay_sends_no_event_of_a_type_the_endpoint_did_not_ask_for():
    staff = UserFactory(is_staff=True, is_superuser=True)
    endpoint = WebhookEndpointFactory(event_types=[EventType.PERIOD_CLOSED])
    wanted = an_event(EventType.PERIOD_CLOSED, created_at=AT - timedelta(days=2))
    for type in EventType.values:
        if type != EventType.PERIOD_CLOSED:
            an_event(type, created_at=AT - timedelta(days=1))

    first = replay_events(
        endpoint=endpoint, since=datetime(2000, 1, 1, tzinfo=UTC), staff_user=staff
    )
    again = replay_events(
        endpoint=endpoint, since=datetime(2000, 1, 1, tzinfo=UTC), staff_user=staff
    )

    assert (first, again) == (1, 0)
    assert list(endpoint.deliveries.values_list("event", flat=True)) == [wanted.pk]


# Admin powers -----------------------------------------------------------------


@pytest.fixture
def disabled_endpoint() -> WebhookEndpoint:
    endpoint = WebhookEndpointFactory(disabled_at=AT, disabled_reason="Failing.")
    held = a_delivery(endpoint)
    held.status = Status.HELD
    held.save(update_fields=["status"])
    an_event(EventType.PERIOD_CLOSED, created_at=AT - timedelta(hours=1))
    return endpoint


def unchanged(endpoint: WebhookEndpoint, before: WebhookEndpoint) -> bool:
    endpoint.refresh_from_db()
    return (
        endpoint.secret == before.secret
        and endpoint.previous_secret == ""
        and endpoint.disabled_at == before.disabled_at
        and set(endpoint.deliveries.values_list("status", flat=True)) == {Status.HELD}
        and endpoint.deliveries.count() == 1
        and not LogEntry.objects.exists()
    )


@pytest.mark.time_machine(AT)
@pytest.mark.parametrize("name", TOOLS)
def test_a_viewer_without_the_change_permission_changes_nothing(
    client, disabled_endpoint, name
):
    before = WebhookEndpoint.objects.get(pk=disabled_endpoint.pk)
    client.force_login(StaffUserFactory(perms=["billing.view_webhookendpoint"]))

    page = client.get(tool(disabled_endpoint, name))
    posted = client.post(
        tool(disabled_endpoint, name), {"since": "2000-01-01T00:00"}, follow=True
    )

    assert page.status_code == 200  # a confirmation page, nothing done
    assert "whsec_" not in page.content.decode() + posted.content.decode()
    assert "billing.change_webhookendpoint" in posted.content.decode()
    assert unchanged(disabled_endpoint, before)


SERVICE_CALLS = {
    "rotate_secret": {},
    "enable_endpoint": {},
    "resend_undelivered": {},
    "resend": None,  # takes deliveries, not the endpoint
    "replay_events": {"since": datetime(2000, 1, 1, tzinfo=UTC)},
    "update_endpoint": {
        "url": "https://93.184.216.34/stolen",
        "event_types": list(EventType.values),
        "description": "",
        "is_active": True,
    },
}


@pytest.mark.time_machine(AT)
@pytest.mark.parametrize("service", SERVICE_CALLS)
@pytest.mark.parametrize(
    "actor", ["viewer", "inactive superuser", "superuser not staff", "system"]
)
def test_each_endpoint_power_is_checked_in_the_service_itself(
    disabled_endpoint, service, actor
):
    """What a hand-made request or any other caller reaches: the rule holds
    without the admin in front."""
    before = WebhookEndpoint.objects.get(pk=disabled_endpoint.pk)
    staff_user = {
        "viewer": lambda: StaffUserFactory(perms=["billing.view_webhookendpoint"]),
        "inactive superuser": lambda: UserFactory(
            is_staff=True, is_superuser=True, is_active=False
        ),
        "superuser not staff": lambda: UserFactory(is_superuser=True),
        "system": lambda: None,
    }[actor]()
    call = getattr(webhook_endpoints, service)
    if service == "resend":
        kwargs = {"deliveries": list(disabled_endpoint.deliveries.all())}
    else:
        kwargs = {"endpoint": disabled_endpoint, **SERVICE_CALLS[service]}

    with pytest.raises(MissingPermission):
        call(staff_user=staff_user, **kwargs)
    with pytest.raises(MissingPermission):
        webhook_endpoints.create_endpoint(
            url="https://93.184.216.34/new",
            event_types=[EventType.PERIOD_CLOSED],
            staff_user=staff_user,
        )

    assert unchanged(disabled_endpoint, before)
    assert WebhookEndpoint.objects.count() == 1


@pytest.mark.time_machine(AT)
@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize(
    "perms", [[], ["billing.view_webhookdelivery", "billing.add_webhookendpoint"]]
)
def test_staff_who_cannot_see_endpoints_get_403_from_every_tool(
    client, disabled_endpoint, name, perms
):
    before = WebhookEndpoint.objects.get(pk=disabled_endpoint.pk)
    client.force_login(StaffUserFactory(perms=perms))

    assert client.get(tool(disabled_endpoint, name)).status_code == 403
    assert client.post(tool(disabled_endpoint, name)).status_code == 403
    assert unchanged(disabled_endpoint, before)


@pytest.mark.time_machine(AT)
@pytest.mark.parametrize("name", PAGES)
def test_a_signed_in_customer_is_sent_to_the_admin_login(
    client, disabled_endpoint, name
):
    before = WebhookEndpoint.objects.get(pk=disabled_endpoint.pk)
    client.force_login(UserFactory())

    response = client.post(tool(disabled_endpoint, name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert unchanged(disabled_endpoint, before)


@pytest.mark.time_machine(AT)
@pytest.mark.parametrize("name", TOOLS)
def test_every_tool_needs_the_csrf_token(admin_user, disabled_endpoint, name):
    before = WebhookEndpoint.objects.get(pk=disabled_endpoint.pk)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)

    response = browser.post(tool(disabled_endpoint, name), {"since": "2000-01-01"})

    assert response.status_code == 403
    assert unchanged(disabled_endpoint, before)


# The secret after its one showing ------------------------------------------------


@pytest.mark.time_machine(AT)
def test_the_secret_is_nowhere_after_the_page_that_showed_it(admin_client):
    created = admin_client.post(
        admin_url(WebhookEndpoint, "add"),
        {
            "url": "http://127.0.0.1:9/hooks",
            "description": "Platform",
            "event_types": [EventType.PERIOD_CLOSED],
            "is_active": "on",
        },
        follow=True,
    )
    endpoint = WebhookEndpoint.objects.get()
    first = endpoint.secret
    assert first in created.content.decode()
    rotated = admin_client.post(tool(endpoint, "rotate"), follow=True)
    endpoint.refresh_from_db()
    assert endpoint.secret in rotated.content.decode()
    admin_client.post(
        admin_url(WebhookEndpoint, "change", endpoint.pk),
        {
            "url": "http://127.0.0.1:9/other",
            "description": "Platform",
            "event_types": [EventType.PERIOD_CLOSED],
            "is_active": "on",
        },
    )
    delivery = a_delivery(endpoint)
    WebhookAttempt.objects.create(
        delivery=delivery, number=1, started_at=AT, error="Refused: whatever."
    )
    UserFactory(is_staff=True, is_superuser=True, email="ops@example.com")
    disable_if_failing(endpoint=endpoint, since=AT, now=AT)
    email_staff_endpoint_disabled.call(endpoint_id=endpoint.pk)

    pages = [
        admin_client.get(admin_url(WebhookEndpoint, view, *args))
        for view, args in (
            ("changelist", ()),
            ("change", (endpoint.pk,)),
            ("history", (endpoint.pk,)),
        )
    ] + [
        admin_client.get(admin_url(WebhookDelivery, "changelist")),
        admin_client.get(admin_url(WebhookDelivery, "change", delivery.pk)),
        admin_client.get(admin_url(WebhookEvent, "change", delivery.event.pk)),
        admin_client.get(reverse("admin:index")),
        *(admin_client.get(tool(endpoint, name), follow=True) for name in PAGES),
    ]
    logged = [(e.object_repr, e.change_message) for e in LogEntry.objects.all()]
    sessions = [s.get_decoded() for s in Session.objects.all()]
    (email,) = mail.outbox

    for secret in (first, endpoint.secret):
        for page in pages:
            assert page.status_code == 200
            assert secret not in page.content.decode()
        assert secret not in repr(logged)
        assert secret not in repr(sessions)
        assert secret not in email.subject + email.body
    assert len(logged) == 3  # added, rotated, changed


@pytest.mark.time_machine(AT)
def test_another_staff_member_cannot_pick_up_a_secret_not_yet_shown(
    admin_client, client
):
    """The creator's browser has not followed the redirect yet; a colleague
    with every power opens the page that shows the secret."""
    admin_client.post(
        admin_url(WebhookEndpoint, "add"),
        {
            "url": "http://127.0.0.1:9/hooks",
            "event_types": [EventType.PERIOD_CLOSED],
            "is_active": "on",
        },
    )
    endpoint = WebhookEndpoint.objects.get()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    colleague = client.get(tool(endpoint, "secret"), follow=True)
    creator = admin_client.get(tool(endpoint, "secret"))

    assert endpoint.secret not in colleague.content.decode()
    assert "shown once and cannot be shown again" in colleague.content.decode()
    assert endpoint.secret in creator.content.decode()


@pytest.mark.parametrize(
    ("model", "lookup"),
    [
        (WebhookDelivery, "endpoint__secret__startswith"),
        (WebhookDelivery, "endpoint__previous_secret__regex"),
        (WebhookEvent, "deliveries__endpoint__secret__startswith"),
    ],
)
def test_other_lists_cannot_filter_on_an_endpoint_secret(admin_client, model, lookup):
    endpoint = WebhookEndpointFactory()
    a_delivery(endpoint)

    response = admin_client.get(
        admin_url(model, "changelist"), {lookup: endpoint.secret[:10]}
    )

    assert response.status_code == 400


# Markup from receivers, payloads and staff ---------------------------------------


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
