"""Send one webhook request, only to an address an endpoint may use.

The destination is resolved once per attempt, every address is checked,
and the connection goes to the checked address (the name still serves TLS
and the Host header), so a name that resolves elsewhere a moment later
cannot redirect a request to a private or metadata address. Redirects are
not followed: a 3xx is a failed attempt.
"""

import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

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
            names.add(entry.strip().lower().rstrip("."))
    return names, networks


def _unmapped(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


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
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhookUrl(
            "Give a full http(s) URL, e.g. https://hooks.example.com/billing."
        )
    if parts.username or parts.password:
        raise UnsafeWebhookUrl("Put no user name or password in the URL.")
    host = parts.hostname.lower().rstrip(".")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeWebhookUrl(
            "The URL's port is not a number from 1 to 65535."
        ) from exc
    if host in METADATA_NAMES:
        raise UnsafeWebhookUrl(f"{host} is a cloud metadata service.")
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
        if reason and literal is not None:
            raise UnsafeWebhookUrl(f"{reason[:1].upper()}{reason[1:]}.")
        if reason:
            raise UnsafeWebhookUrl(f"{host} resolves to {reason}.")
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    return Destination(
        scheme=parts.scheme, host=host, port=port, target=target, addresses=addresses
    )


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
    time (``BILLING_WEBHOOK_TIMEOUT_SECONDS``) and a bounded excerpt read."""
    started = time.monotonic()

    def answer(**kwargs) -> Answer:
        elapsed = int((time.monotonic() - started) * 1000)
        return Answer(duration_ms=elapsed, **kwargs)

    try:
        destination = check_destination(url)
    except UnsafeWebhookUrl as exc:
        return answer(status_code=None, error=f"Refused: {exc.message}")
    timeout = settings.BILLING_WEBHOOK_TIMEOUT_SECONDS
    address = destination.addresses[0]
    default_port = 443 if destination.scheme == "https" else 80
    host_header = (
        destination.host if ":" not in destination.host else f"[{destination.host}]"
    )
    if destination.port != default_port:
        host_header += f":{destination.port}"
    pool_kwargs: dict = {
        "host": str(address),
        "port": destination.port,
        "timeout": urllib3.Timeout(total=timeout),
        "retries": False,
        "maxsize": 1,
    }
    if destination.scheme == "https":
        pool_class: type = urllib3.HTTPSConnectionPool
        pool_kwargs |= {
            "server_hostname": destination.host,
            "assert_hostname": destination.host,
            "cert_reqs": "CERT_REQUIRED",
        }
    else:
        pool_class = urllib3.HTTPConnectionPool
    pool = pool_class(**pool_kwargs)
    try:
        response = pool.urlopen(
            "POST",
            destination.target,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            raw = response.read(EXCERPT_BYTES, decode_content=False)
        finally:
            response.release_conn()
        return answer(
            status_code=response.status,
            excerpt=raw.decode("utf-8", errors="replace"),
        )
    except urllib3.exceptions.NewConnectionError as exc:
        # Checked first: urllib3 counts a refused connection as a timeout.
        return answer(status_code=None, error=_short(exc))
    except urllib3.exceptions.TimeoutError:
        return answer(status_code=None, error=f"No answer within {timeout:g} s.")
    except urllib3.exceptions.HTTPError as exc:
        return answer(status_code=None, error=_short(exc))
    except OSError as exc:
        return answer(status_code=None, error=_short(exc))
    finally:
        pool.close()


def _short(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return f"{type(reason).__name__}: {reason}"[:300]
