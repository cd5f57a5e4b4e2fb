"""Packs and meters on offer, and which apply to an account."""

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import QuerySet

from ..errors import NotFound, UnknownMeter
from ..models import (
    Account,
    Meter,
    Pack,
)
from ..quotas.status import meter_applies  # noqa: F401 (re-exported)


def all_meters() -> list[Meter]:
    return list(Meter.objects.all())


def get_meter(*, code: str) -> Meter:
    try:
        return Meter.objects.get(code=code)
    except Meter.DoesNotExist:
        raise UnknownMeter(f"There is no meter called {code!r}.") from None


def pack_applies(*, pack: Pack, account: Account) -> bool:
    """Job-slot packs are for companies; capacity packs for every account."""
    return pack.category != Pack.Category.SLOTS or account.kind == Account.Kind.COMPANY


def list_catalogue(
    *,
    account: Account | None = None,
    meter_code: str | None = None,
    category: str | None = None,
) -> QuerySet[Pack]:
    """Packs on sale (for ``account``: those it may buy), optionally covering one
    meter or of one category."""
    packs = Pack.objects.filter(is_active=True).prefetch_related("allowances__meter")
    if account is not None and account.kind != Account.Kind.COMPANY:
        packs = packs.exclude(category=Pack.Category.SLOTS)
    if meter_code:
        packs = packs.filter(allowances__meter__code=meter_code)
    if category:
        packs = packs.filter(category=category)
    return packs


def list_meters(*, account: Account | None = None) -> list[Meter]:
    """Meters in display order; with ``account``, only those that apply to it."""
    return [
        m
        for m in all_meters()
        if account is None or meter_applies(meter=m, account=account)
    ]


def get_pack(*, code: str, category: str | None = None) -> Pack:
    """An active pack by code; inactive ones are not for sale."""
    packs = Pack.objects.filter(is_active=True).prefetch_related("allowances__meter")
    if category:
        packs = packs.filter(category=category)
    try:
        return packs.get(code=code)
    except Pack.DoesNotExist:
        raise NotFound(f"No pack {code!r} is on sale.") from None


def _pack_content(pack: Pack) -> tuple:
    lines = frozenset((a.meter_id, a.amount) for a in pack.allowances.all())
    return (pack.category, pack.term_days, lines)


def pack_counterparts(*, packs: Iterable[Pack]) -> dict[int, Pack]:
    """For each pack, the pack of the other kind among ``packs`` with the same
    allowances and term (cheapest first), so a card can say what the other
    form costs. Reads prefetched allowances: no query."""
    packs = list(packs)
    by_content: dict[tuple, list[Pack]] = defaultdict(list)
    for pack in sorted(packs, key=lambda p: (p.price_cents, p.code)):
        by_content[_pack_content(pack)].append(pack)
    found = {}
    for pack in packs:
        other = next(
            (
                p
                for p in by_content[_pack_content(pack)]
                if p.is_subscription != pack.is_subscription
            ),
            None,
        )
        if other is not None:
            found[pack.pk] = other
    return found
