"""Revenue-share arithmetic: tiers, bundle splits, the monthly cap.

Pure functions on integer cents, no database, so the hand-computed examples
and the property tests exercise exactly what the services write. Every
line's creator share is rounded half-up once and the platform gets the
rest, so creator + platform == gross on every line, to the cent.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from billing.units import to_cents

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Tier:
    """Creator share of yearly gross sales up to ``up_to_cents`` (None: beyond)."""

    up_to_cents: int | None
    creator_percent: Decimal


@dataclass(frozen=True, slots=True)
class PolicyTerms:
    tiers: tuple[Tier, ...]
    monthly_cap_cents: int | None  # None: no cap

    def __post_init__(self) -> None:
        validate_tiers(self.tiers)


def validate_tiers(tiers: Sequence[Tier]) -> None:
    """Ascending ceilings, percentages within 0-100, the last tier open-ended."""
    if not tiers:
        raise ValueError("A policy needs at least one tier.")
    if tiers[-1].up_to_cents is not None:
        raise ValueError("The last tier must have no ceiling (it covers the rest).")
    ceilings = [t.up_to_cents for t in tiers[:-1] if t.up_to_cents is not None]
    if len(ceilings) != len(tiers) - 1:
        raise ValueError("Only the last tier may have no ceiling.")
    if any(c <= 0 for c in ceilings) or ceilings != sorted(set(ceilings)):
        raise ValueError("Tier ceilings must be positive and strictly ascending.")
    if any(not (0 <= t.creator_percent <= 100) for t in tiers):
        raise ValueError("A creator share is a percentage from 0 to 100.")


# The example policy; migration 0002 seeds it for staff to edit, and
# it applies when no policy row exists (e.g. right after a test flush).
DEFAULT_TERMS = PolicyTerms(
    tiers=(
        Tier(up_to_cents=100_000, creator_percent=Decimal(70)),
        Tier(up_to_cents=1_000_000, creator_percent=Decimal(60)),
        Tier(up_to_cents=None, creator_percent=Decimal(50)),
    ),
    monthly_cap_cents=50_000,
)


@dataclass(frozen=True, slots=True)
class ShareLine:
    tier: int  # 1-based position in the policy
    creator_percent: Decimal
    gross_cents: int
    creator_cents: int
    platform_cents: int


def split_by_tiers(
    *, gross_cents: int, year_to_date_cents: int, terms: PolicyTerms
) -> list[ShareLine]:
    """Split one sale across the tiers its yearly gross position spans.

    A sale that straddles a ceiling gets one line per tier it touches; a
    zero gross gets no line.
    """
    if gross_cents < 0:
        raise ValueError("A sale's gross is never negative.")
    lines: list[ShareLine] = []
    position, remaining = year_to_date_cents, gross_cents
    for number, tier in enumerate(terms.tiers, start=1):
        if remaining == 0:
            break
        ceiling = tier.up_to_cents
        if ceiling is not None and position >= ceiling:
            continue
        portion = remaining if ceiling is None else min(remaining, ceiling - position)
        creator = to_cents(Decimal(portion) * tier.creator_percent / HUNDRED)
        lines.append(
            ShareLine(
                tier=number,
                creator_percent=tier.creator_percent,
                gross_cents=portion,
                creator_cents=creator,
                platform_cents=portion - creator,
            )
        )
        position += portion
        remaining -= portion
    return lines


@dataclass(frozen=True, slots=True)
class MonthEarnings:
    month: date  # first day of the month (UTC)
    earned_cents: int  # creator share of sales, net of refunds
    carried_in_cents: int  # held back by earlier months' caps
    payable_cents: int
    carried_out_cents: int  # held back: paid in a later month

    @property
    def held_cents(self) -> int:
        return self.carried_out_cents


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def apply_monthly_cap(
    *, earned: Sequence[tuple[date, int, int | None]]
) -> list[MonthEarnings]:
    """Roll (month, earned, cap) forward: pay up to the cap, carry the rest.

    Carried amounts are paid first in the next month and count towards its
    cap. Months must be consecutive and in order. A month whose refunds
    exceed its sales has a negative payable (deducted from the next payout);
    the carry is never negative.
    """
    rows: list[MonthEarnings] = []
    carry = 0
    for month, earned_cents, cap in earned:
        available = earned_cents + carry
        payable = available if cap is None else min(available, cap)
        rows.append(
            MonthEarnings(
                month=month,
                earned_cents=earned_cents,
                carried_in_cents=carry,
                payable_cents=payable,
                carried_out_cents=available - payable,
            )
        )
        carry = available - payable
    return rows


def held_back(*, creator_cents: Sequence[int], headroom_cents: int | None) -> list[int]:
    """How much of each new line the month's remaining cap holds back."""
    if headroom_cents is None:
        return [0] * len(creator_cents)
    room = max(headroom_cents, 0)
    held = []
    for cents in creator_cents:
        released = min(cents, room)
        room -= released
        held.append(cents - released)
    return held
