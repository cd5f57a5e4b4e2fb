"""Reads for creators' earnings: the revenue policy in effect, statements, payouts.

Earnings statements are computed from the ledger lines grouped by month in
one query and rolled forward through ``revenue.apply_monthly_cap``, the
same function the sale service uses to decide what the cap holds back.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import User
from billing.permissions import VIEW_PAYOUTS, check_staff_power
from billing.units import period_of

from ..models import EarningLine, Payout, RevenuePolicy
from ..revenue import (
    DEFAULT_TERMS,
    MonthEarnings,
    PolicyTerms,
    apply_monthly_cap,
    next_month,
)

# Policy ------------------------------------------------------------------------


def list_policies() -> list[RevenuePolicy]:
    return list(
        RevenuePolicy.objects.prefetch_related("tiers").order_by("effective_from")
    )


def terms_at(policies: list[RevenuePolicy], at: datetime) -> PolicyTerms:
    """The policy in effect at ``at`` (policies sorted by effective_from)."""
    current = None
    for policy in policies:
        if policy.effective_from <= at:
            current = policy
    return current.terms() if current else DEFAULT_TERMS


def policy_terms_at(*, at: datetime) -> PolicyTerms:
    return terms_at(list_policies(), at)


# Earnings ------------------------------------------------------------------


def _month_end(month: date) -> datetime:
    return period_of(month).ends_at - timedelta(microseconds=1)


def _statements(
    *, creator_ids: list[int] | None, at: datetime
) -> dict[int, list[MonthEarnings]]:
    """Per creator, every month from their first earnings to ``at``'s month."""
    lines = EarningLine.objects.all()
    if creator_ids is not None:
        lines = lines.filter(creator_id__in=creator_ids)
    totals = lines.values("creator_id", "month").annotate(earned=Sum("creator_cents"))
    by_creator: dict[int, dict[date, int]] = defaultdict(dict)
    for row in totals:
        by_creator[row["creator_id"]][row["month"]] = row["earned"]
    policies = list_policies()
    this_month = period_of(at).start
    statements = {}
    for creator_id, months in by_creator.items():
        month, rows = min(months), []
        while month <= max(this_month, max(months)):
            cap = terms_at(policies, min(_month_end(month), at)).monthly_cap_cents
            rows.append((month, months.get(month, 0), cap))
            month = next_month(month)
        statements[creator_id] = apply_monthly_cap(earned=rows)
    return statements


def month_statement(*, creator_id: int, at: datetime) -> MonthEarnings | None:
    """This month so far for one creator (used under the creator's lock)."""
    rows = _statements(creator_ids=[creator_id], at=at).get(creator_id)
    if not rows:
        return None
    this_month = period_of(at).start
    return next((r for r in rows if r.month == this_month), None)


def tier_basis_cents(*, creator_id: int, year: int, at: datetime) -> int:
    """Gross counted towards ``year``'s tiers, as recorded up to ``at``.

    A refund counts in the year of the sale it reverses, whenever it came:
    a December sale refunded in January must not widen January's tiers.
    """
    first, after = date(year, 1, 1), date(year + 1, 1, 1)
    # Every line of the year was recorded in it or later (a refund follows
    # its sale), so month >= first narrows the (creator, month) index scan.
    counted = Q(kind=EarningLine.Kind.SALE, month__lt=after) | Q(
        kind=EarningLine.Kind.REFUND,
        reverses__month__gte=first,
        reverses__month__lt=after,
    )
    return (
        EarningLine.objects.filter(
            counted, creator_id=creator_id, month__gte=first, created_at__lte=at
        ).aggregate(total=Sum("gross_cents"))["total"]
        or 0
    )


def year_to_date_gross_cents(*, creator_id: int, at: datetime) -> int:
    """The tier basis of ``at``'s calendar year (UTC) so far."""
    return tier_basis_cents(creator_id=creator_id, year=period_of(at).start.year, at=at)


@dataclass(frozen=True, slots=True)
class TierPosition:
    number: int
    creator_percent: str
    year_gross_cents: int
    to_next_cents: int | None  # None: top tier
    next_percent: str | None


def tier_position(*, terms: PolicyTerms, year_gross_cents: int) -> TierPosition:
    for number, tier in enumerate(terms.tiers, start=1):
        if tier.up_to_cents is None or year_gross_cents < tier.up_to_cents:
            following = terms.tiers[number] if number < len(terms.tiers) else None
            return TierPosition(
                number=number,
                creator_percent=f"{tier.creator_percent.normalize():f}",
                year_gross_cents=year_gross_cents,
                to_next_cents=(
                    None
                    if tier.up_to_cents is None
                    else tier.up_to_cents - year_gross_cents
                ),
                next_percent=(
                    f"{following.creator_percent.normalize():f}" if following else None
                ),
            )
    raise AssertionError("validate_tiers guarantees an open-ended last tier")


@dataclass(frozen=True, slots=True)
class EarningsOverview:
    sales: int
    refunds: int
    gross_cents: int
    earned_cents: int
    months: list[MonthEarnings]  # newest first
    held_cents: int  # carried past the current month by the cap
    tier: TierPosition
    monthly_cap_cents: int | None
    paid_cents: int
    due_cents: int  # payable in finished months, minus payouts
    recent_lines: list[EarningLine]


def earnings_overview(*, creator: User, at: datetime | None = None) -> EarningsOverview:
    at = at or timezone.now()
    lines = EarningLine.objects.filter(creator=creator)
    totals = lines.aggregate(
        gross=Sum("gross_cents"),
        earned=Sum("creator_cents"),
        sales=Count("sale", distinct=True, filter=Q(kind=EarningLine.Kind.SALE)),
        refunds=Count("sale", distinct=True, filter=Q(kind=EarningLine.Kind.REFUND)),
    )
    months = _statements(creator_ids=[creator.pk], at=at).get(creator.pk, [])
    this_month = period_of(at).start
    terms = policy_terms_at(at=at)
    paid = Payout.objects.filter(creator=creator).aggregate(t=Sum("amount_cents"))["t"]
    finished = sum(m.payable_cents for m in months if m.month < this_month)
    return EarningsOverview(
        sales=totals["sales"],
        refunds=totals["refunds"],
        gross_cents=totals["gross"] or 0,
        earned_cents=totals["earned"] or 0,
        months=months[::-1],
        held_cents=months[-1].carried_out_cents if months else 0,
        tier=tier_position(
            terms=terms,
            year_gross_cents=year_to_date_gross_cents(creator_id=creator.pk, at=at),
        ),
        monthly_cap_cents=terms.monthly_cap_cents,
        paid_cents=paid or 0,
        due_cents=finished - (paid or 0),
        recent_lines=list(
            lines.select_related("theme", "sale").order_by("-created_at", "-pk")[:20]
        ),
    )


@dataclass(frozen=True, slots=True)
class CreatorPayout:
    creator: User
    earned_cents: int
    payable_cents: int  # finished months
    held_cents: int
    paid_cents: int

    @property
    def due_cents(self) -> int:
        return self.payable_cents - self.paid_cents


def payouts_due(*, viewer: User, at: datetime | None = None) -> list[CreatorPayout]:
    """Every creator with earnings: what finished months owe them, minus payouts.

    Needs ``store.view_payouts`` (there is no system reader).
    """
    check_staff_power(actor=viewer, permission=VIEW_PAYOUTS)
    at = at or timezone.now()
    statements = _statements(creator_ids=None, at=at)
    this_month = period_of(at).start
    paid = dict(
        Payout.objects.values("creator_id")
        .annotate(total=Sum("amount_cents"))
        .values_list("creator_id", "total")
    )
    creators = User.objects.in_bulk(list(statements))
    rows = [
        CreatorPayout(
            creator=creators[creator_id],
            earned_cents=sum(m.earned_cents for m in months),
            payable_cents=sum(m.payable_cents for m in months if m.month < this_month),
            held_cents=months[-1].carried_out_cents,
            paid_cents=paid.get(creator_id, 0),
        )
        for creator_id, months in statements.items()
    ]
    return sorted(rows, key=lambda r: (-r.due_cents, r.creator.email))
