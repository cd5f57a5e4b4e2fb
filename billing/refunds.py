"""Refund amounts staff can choose from: the full price or the unused part.

A selector module (reads only); ``billing.services.refunds.refund_charge``
writes the refund with whatever amount staff pick.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from django.utils import timezone

from .models import ChargeRecord, Grant, Meter
from .units import format_cents, format_quantity, to_cents

_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class RefundProposal:
    full_cents: int
    pro_rata_cents: int
    basis: str  # how pro_rata_cents was worked out, for the staff form


def _unused(grant: Grant, *, at: datetime) -> tuple[Fraction, str]:
    """The unused share of one grant at ``at``, and a line saying why.

    A staff revocation before ``at`` ends the use early: what it cut off
    counts as unused.
    """
    name = grant.meter.name
    cutoff = min(at, grant.revoked_at) if grant.revoked_at else at
    if grant.meter.kind == Meter.Kind.COUNTER:
        if grant.expires_at is not None and cutoff >= grant.expires_at:
            return Fraction(0), f"{name}: expired, its balance left with it"
        left, unit = grant.amount - grant.consumed, grant.meter.unit
        return Fraction(left, grant.amount), (
            f"{name}: {format_quantity(left, unit)} of"
            f" {format_quantity(grant.amount, unit)} unused"
        )
    if grant.expires_at is None:
        return Fraction(1), f"{name}: no end date, all of it unused"
    term = grant.expires_at - grant.effective_at
    remaining = grant.expires_at - min(
        max(cutoff, grant.effective_at), grant.expires_at
    )
    unused = Fraction(remaining // _MICROSECOND, term // _MICROSECOND)
    days = remaining / timedelta(days=1)
    return unused, f"{name}: {days:.1f} of {term.days} days of the term unused"


def refund_proposal(
    *, charge: ChargeRecord, at: datetime | None = None
) -> RefundProposal:
    """The full price and the pro-rata price of what is unused at ``at``.

    Counters (top-ups): unused units / units bought, ``consumed`` read as it
    stands. Gauges and job slots: the unused share of the term, (expiry -
    max(at, start)) / (expiry - start). A pack with several meters weighs
    each line equally (the mean of the shares), since a price is not split
    per line. A charge with no pack behind it has nothing to prorate: both
    amounts are the full price. Rounded half-up to a cent.
    """
    at = at or timezone.now()
    full = charge.amount_cents
    grants: list[Grant] = []
    if charge.purchase_id:
        grants = list(
            Grant.objects.filter(purchase_id=charge.purchase_id)
            .select_related("meter")
            .order_by("pk")
        )
    if not grants:
        return RefundProposal(
            full_cents=full,
            pro_rata_cents=full,
            basis="No pack capacity behind this charge: nothing to prorate.",
        )
    shares = [_unused(grant, at=at) for grant in grants]
    share = sum((s for s, _ in shares), Fraction(0)) / len(shares)
    pro_rata = to_cents(Decimal(full * share.numerator) / Decimal(share.denominator))
    lines = "; ".join(line for _, line in shares)
    weighting = " (each meter weighs the same)" if len(shares) > 1 else ""
    return RefundProposal(
        full_cents=full,
        pro_rata_cents=pro_rata,
        basis=(
            f"{lines}. Unused: {float(share):.1%}{weighting} of"
            f" {format_cents(full, charge.currency)}."
        ),
    )
