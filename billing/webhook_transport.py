"""Send one webhook request, only to an address an endpoint may use.

The destination is resolved once per attempt, every address is checked,
and the connection goes to the checked address (the name still serves TLS
and the Host header), so a name that resolves elsewhere a moment later
cannot redirect a request to a private or metadata address. Redirects are
not followed: a 3xx is a failed attempt.
"""

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit

import urllib3
from django.conf import settings

from .errors import UnsafeWebhookUrl

type Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance metadata services: never a webhook destination.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack
        "169.254.170.2",  # AWS ECS task metadata
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure's host services (wire server)
        "fd00:ec2::254",  # AWS over IPv6
    )
)
METADATA_NAMES = frozenset({"metadata", "metadata.google.internal"})
EXCERPT_BYTES = 1000


@dataclass(frozen=True, slots=True)
class Destination:
    scheme: str
    host: str
    port: int
    target: str  # path and query
    addresses: tuple[Address, ...]


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int | None  # None: no HTTP answer (timeout, refused, ...)
    excerpt: str = ""
    error: str = ""
    duration_ms: int = 0

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _private_entries() -> tuple[
    set[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]
]:
    names: set[str] = set()
    networks = []
    for entry in settings.BILLING_WEBHOOK_PRIVATE_HOSTS:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            names.add(_ascii_host(entry.strip().lower().rstrip(".")))
    return names, networks


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")


def _unmapped(address: Address) -> Address:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4, ...)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return address
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    carried = (
        address in _NAT64
        or address in _IPV4_TRANSLATED
        or (address in _IPV4_COMPATIBLE and int(address) > 1)
    )
    return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF) if carried else address


def _refusal(address: Address, *, listed_name: bool, networks: Iterable) -> str:
    """Why the address may not receive webhooks ("" when it may)."""
    address = _unmapped(address)
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    if address.is_link_local:
        return f"{address} is a link-local address"
    if address.is_global and not address.is_multicast:
        return ""
    if listed_name or any(address in net for net in networks):
        return ""
    return (
        f"{address} is not a public address; list the host in"
        " BILLING_WEBHOOK_PRIVATE_HOSTS to allow it"
    )


def check_destination(url: str, *, resolve: bool = True) -> Destination:
    """The endpoint URL's destination, or UnsafeWebhookUrl saying why not.

    https only, except hosts listed in ``BILLING_WEBHOOK_PRIVATE_HOSTS``
    (names, addresses or networks); every address the name resolves to must
    be public or listed, and never link-local or a metadata service.
    """
    parts, host, port = _parse(url)
    names, networks = _private_entries()
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    listed = host in names or (
        literal is not None and any(_unmapped(literal) in n for n in networks)
    )
    if parts.scheme == "http" and not listed:
        raise UnsafeWebhookUrl(
            "Use https: plain http is only for hosts listed in"
            " BILLING_WEBHOOK_PRIVATE_HOSTS (the private network)."
        )
    addresses: tuple[Address, ...] = ()
    if literal is not None:
        addresses = (literal,)
    elif resolve:
        addresses = _resolve(host, port)
    for address in addresses:
        reason = _refusal(address, listed_name=host in names, networks=networks)
        if reason:
            raise UnsafeWebhookUrl(_refused(host, reason, typed=literal is not None))
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    return Destination(
        scheme=parts.scheme, host=host, port=port, target=target, addresses=addresses
    )


def _parse(url: str) -> tuple[SplitResult, str, int]:
    """The URL's parts, its host in DNS form and its port, or why not."""
    url = url.strip()
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise UnsafeWebhookUrl("Remove the spaces and line breaks from the URL.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhookUrl(
            "Give a full http(s) URL, e.g. https://hooks.example.com/billing."
        )
    if parts.username or parts.password:
        raise UnsafeWebhookUrl("Put no user name or password in the URL.")
    host = _ascii_host(parts.hostname.lower().rstrip("."))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeWebhookUrl(
            "The URL's port is not a number from 1 to 65535."
        ) from exc
    if host in METADATA_NAMES:
        raise UnsafeWebhookUrl(f"{host} is a cloud metadata service.")
    return parts, host, port


def _refused(host: str, reason: str, *, typed: bool) -> str:
    """ "169.254.169.254 is a ..." for a typed address; "x resolves to
    169.254.169.254, a ..." for a name."""
    if typed:
        return f"{reason[:1].upper()}{reason[1:]}."
    return f"{host} resolves to {reason.replace(' is ', ', ', 1)}."


def _ascii_host(host: str) -> str:
    """An international name in its DNS form (``xn--``), as the Host header,
    TLS and the resolver need it."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise UnsafeWebhookUrl(f"{host} is not a valid host name.") from exc


def _resolve(host: str, port: int) -> tuple[Address, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeWebhookUrl(f"{host} does not resolve to an address.") from exc
    found = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in found:
            found.append(address)
    return tuple(found)


def post(*, url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST ``body`` to ``url`` once: checked address, no redirects, bounded
    time (``BILLING_WEBHOOK_TIMEOUT_SECONDS``, the whole attempt: a watchdog
    cuts a receiver that drips its answer) and a bounded excerpt read."""
    started = time.monotonic()

    def answer(**kwargs) -> Answer:
        elapsed = int((time.monotonic() - started) * 1000)
        return Answer(duration_ms=elapsed, **kwargs)

    try:
        destination = check_destination(url)
    except UnsafeWebhookUrl as exc:
        return answer(status_code=None, error=f"Refused: {exc.message}")
    timeout = settings.BILLING_WEBHOOK_TIMEOUT_SECONDS
    late = f"No answer within {timeout:g} s."
    pool = _pool(destination, timeout=timeout)
    watchdog = threading.Timer(timeout, pool.cut)
    watchdog.start()
    try:
        response = pool.urlopen(
            "POST",
            destination.target,
            body=body,
            headers={**headers, "Host": _host_header(destination)},
            redirect=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            raw = response.read(EXCERPT_BYTES, decode_content=False)
        finally:
            response.release_conn()
        if pool.was_cut.is_set():
            return answer(status_code=None, error=late)
        # PostgreSQL text holds no NUL: a binary answer is kept as text.
        excerpt = raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
        return answer(status_code=response.status, excerpt=excerpt)
    except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
        if pool.was_cut.is_set() or (
            isinstance(exc, urllib3.exceptions.TimeoutError)
            # urllib3 counts a refused connection as a timeout too.
            and not isinstance(exc, urllib3.exceptions.NewConnectionError)
        ):
            return answer(status_code=None, error=late)
        return answer(status_code=None, error=_short(exc))
    finally:
        watchdog.cancel()
        pool.close()


def _host_header(destination: Destination) -> str:
    host = destination.host
    if ":" in host:
        host = f"[{host}]"
    if destination.port != (443 if destination.scheme == "https" else 80):
        host += f":{destination.port}"
    return host


class _DeadlinePool(Protocol):
    """What ``_with_deadline`` adds to a urllib3 pool."""

    was_cut: threading.Event

    def cut(self) -> None: ...

    def urlopen(self, method: str, url: str, **kwargs: Any) -> Any: ...

    def close(self) -> None: ...


def _pool(destination: Destination, *, timeout: float) -> _DeadlinePool:
    """A one-connection pool to the checked address; TLS still checks the
    certificate against the host name."""
    kwargs: dict[str, Any] = {
        "host": str(destination.addresses[0]),
        "port": destination.port,
        "timeout": urllib3.Timeout(total=timeout),
        "retries": False,
        "maxsize": 1,
    }
    pool_class: type = urllib3.HTTPConnectionPool
    if destination.scheme == "https":
        pool_class = urllib3.HTTPSConnectionPool
        kwargs |= {
            "server_hostname": destination.host,
            "assert_hostname": destination.host,
            "cert_reqs": "CERT_REQUIRED",
        }
    return _with_deadline(pool_class)(**kwargs)


def _with_deadline(pool_class: type) -> type:
    """The pool, able to cut its connections when the attempt's time is up
    (a socket timeout bounds each read, not a slow drip of them)."""

    class Pool(pool_class):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.opened: list = []
            self.was_cut = threading.Event()

        def _new_conn(self):
            conn = super()._new_conn()
            self.opened.append(conn)
            return conn

        def cut(self) -> None:
            self.was_cut.set()
            for conn in self.opened:
                sock = getattr(conn, "sock", None)
                if sock is not None:
                    with contextlib.suppress(OSError):  # already closed
                        sock.shutdown(socket.SHUT_RDWR)

    return Pool


def _short(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return f"{type(reason).__name__}: {reason}"[:300]
