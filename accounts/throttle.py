"""Who is signing in, as the sign-in throttle (django-axes) counts it.

The account is the e-mail typed, trimmed and lower-cased, so that changing
its case does not start a fresh count.

The address:
Behind a reverse proxy every request comes from the proxy, and the client is
named in ``X-Forwarded-For``; but anyone can send that header. It is believed
only when the connecting peer is one of ``settings.TRUSTED_PROXIES``, and
then the address taken is the right-most one that is not itself a trusted
proxy (the left-most entries are whatever the client chose to write).
django-ipware, which django-axes would use otherwise, decides trust from the
header's own contents rather than from the connecting peer, so it is not
used here.
"""

from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from unicodedata import normalize

from django.conf import settings
from django.http import HttpRequest

Networks = tuple[IPv4Network | IPv6Network, ...]


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> Networks:
    return tuple(ip_network(proxy, strict=False) for proxy in proxies)


def _is_trusted(address: str, networks: Networks) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def client_ip(request: HttpRequest) -> str:
    peer = request.META.get("REMOTE_ADDR", "")
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _is_trusted(peer, networks):
        return peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, networks):
            try:
                return str(ip_address(hop))
            except ValueError:
                return peer  # a malformed hop: fall back to what is known
    return peer


def sign_in_username(request: HttpRequest, credentials: dict | None = None) -> str:
    """Fold the e-mail at least as far as the database's case-blind lookup does.

    PostgreSQL compares ``UPPER(email)``, and ``upper('ı')`` is ``I``: a key
    that only lower-cased would count ``ınes@`` apart from ``ines@`` while
    both sign in to the same account. Upper- then lower-casing (after NFKC,
    which folds full-width forms) merges every spelling the lookup merges.
    """
    source = credentials if credentials else getattr(request, "POST", {})
    typed = normalize("NFKC", str(source.get("username") or "")).strip()
    return typed.upper().lower()
