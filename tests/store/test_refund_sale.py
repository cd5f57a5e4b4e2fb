"""A refund reduces the tier basis of its sale's year, paid in the refund's month.

The story: a creator sells an $80 theme twice in December 2026, the second
sale (31 Dec, 23:00 UTC) crossing into the second tier; that sale is
refunded on 5 January 2027; then the theme sells twice in January.
"""

from datetime import UTC, date, datetime

import pytest
import time_machine

from store.models import EarningLine
from store.selectors.earnings import (
    earnings_overview,
    month_statement,
    payouts_due,
    tier_basis_cents,
    year_to_date_gross_cents,
)
from store.services.sales import purchase_theme, refund_sale
from tests.factories.accounts import StaffUserFactory, UserFactory
from tests.factories.store import RevenuePolicyFactory, ThemeFactory

pytestmark = pytest.mark.django_db

# 70% of the first $100 a year, 60% up to $500, 50% beyond. No monthly cap,
# so a month's payable is exactly what it earned.
TIERS = [(10_000, 70), (50_000, 60), (None, 50)]
DECEMBER, JANUARY = date(2026, 12, 1), date(2027, 1, 1)


def at(year, month, day, hour=12):
    return datetime(year, month, day, hour, tzinfo=UTC)


def buy(buyer, theme, when):
    with time_machine.travel(when, tick=False):
        return purchase_theme(
            actor=buyer, theme=theme, idempotency_key=f"buy-{buyer.pk}"
        ).sale


def refund(sale, when):
    with time_machine.travel(when, tick=False):
        return refund_sale(
            sale=sale, actor=StaffUserFactory(perms=["billing.refund_charge"])
        )


def shares(lines):
    return [(line.tier, line.gross_cents, line.creator_cents) for line in lines]


@pytest.fixture
def creator():
    """Run the story; return the theme's creator."""
    with time_machine.travel(at(2026, 11, 1), tick=False):
        RevenuePolicyFactory(effective_from=at(2026, 1, 1, hour=0), tiers=TIERS)
        theme = ThemeFactory(price_cents=8_000)
        buyers = UserFactory.create_batch(4)
    buy(buyers[0], theme, at(2026, 12, 3))
    late = buy(buyers[1], theme, at(2026, 12, 31, hour=23))
    refund(late, at(2027, 1, 5))
    buy(buyers[2], theme, at(2027, 1, 10))
    buy(buyers[3], theme, at(2027, 1, 20))
    return theme.creator


def test_the_december_sale_crossed_into_the_second_tier(creator):
    lines = EarningLine.objects.filter(
        creator=creator, kind=EarningLine.Kind.SALE, month=DECEMBER
    ).order_by("pk")
    # 3 Dec: basis 0, $80 in tier 1: 8_000 x 70% = 5_600.
    # 31 Dec: basis 8_000, tier 1 has 2_000 left: 2_000 x 70% = 1_400,
    # the other 6_000 x 60% = 3_600.
    assert shares(lines) == [(1, 8_000, 5_600), (1, 2_000, 1_400), (2, 6_000, 3_600)]


def test_january_sales_use_the_full_first_tier_of_the_new_year(creator):
    lines = EarningLine.objects.filter(
        creator=creator, kind=EarningLine.Kind.SALE, month=JANUARY
    ).order_by("pk")
    # 2027's basis starts at 0 although January holds the -8_000 refund:
    # 10 Jan: 8_000 x 70% = 5_600 (basis 8_000);
    # 20 Jan: 2_000 x 70% = 1_400 up to the 10_000 ceiling, 6_000 x 60% = 3_600.
    # (Counting the refund in 2027 would start at -8_000 and pay 2 x 5_600.)
    assert shares(lines) == [(1, 8_000, 5_600), (1, 2_000, 1_400), (2, 6_000, 3_600)]


def test_the_refund_is_deducted_from_the_january_payout(creator):
    refunds = EarningLine.objects.filter(creator=creator, kind=EarningLine.Kind.REFUND)
    # The twins of the 31 Dec lines, dated January: -1_400 - 3_600 = -5_000.
    assert {line.month for line in refunds} == {JANUARY}
    assert shares(refunds.order_by("tier")) == [
        (1, -2_000, -1_400),
        (2, -6_000, -3_600),
    ]

    # December: 5_600 + 1_400 + 3_600 = 10_600, untouched by the refund.
    # January: 5_600 + 1_400 + 3_600 - 5_000 = 5_600.
    january = month_statement(creator_id=creator.pk, at=at(2027, 1, 31))
    assert (january.earned_cents, january.payable_cents) == (5_600, 5_600)
    months = earnings_overview(creator=creator, at=at(2027, 2, 1)).months
    assert [(m.month, m.payable_cents) for m in months] == [
        (date(2027, 2, 1), 0),
        (JANUARY, 5_600),
        (DECEMBER, 10_600),
    ]
    payouts_viewer = StaffUserFactory(perms=["store.view_payouts"])
    [row] = payouts_due(viewer=payouts_viewer, at=at(2027, 2, 1))
    assert row.payable_cents == 10_600 + 5_600 == 16_200


def test_the_refund_reduces_the_2026_basis_and_not_the_2027_one(creator):
    def basis(year, when):
        return tier_basis_cents(creator_id=creator.pk, year=year, at=when)

    # 2026 before the refund: 8_000 + 8_000 = 16_000; after it: 16_000 - 8_000.
    assert basis(2026, at(2027, 1, 4)) == 16_000
    assert basis(2026, at(2027, 2, 1)) == 8_000
    # 2027: the two January sales only, 8_000 + 8_000.
    assert basis(2027, at(2027, 2, 1)) == 16_000
    ytd = year_to_date_gross_cents(creator_id=creator.pk, at=at(2027, 2, 1))
    assert ytd == 16_000
    # So the creator's page shows tier 2, 50_000 - 16_000 short of tier 3.
    tier = earnings_overview(creator=creator, at=at(2027, 1, 31)).tier
    assert tier.number == 2
    assert (tier.year_gross_cents, tier.to_next_cents) == (16_000, 34_000)


def test_a_refund_in_the_sale_year_frees_that_year_tier_room():
    with time_machine.travel(at(2026, 3, 1), tick=False):
        RevenuePolicyFactory(effective_from=at(2026, 1, 1, hour=0), tiers=TIERS)
        theme = ThemeFactory(price_cents=8_000)
        first, second, third = UserFactory.create_batch(3)
    refund(buy(first, theme, at(2026, 3, 10)), at(2026, 4, 2))
    buy(second, theme, at(2026, 5, 10))
    buy(third, theme, at(2026, 5, 20))

    may = EarningLine.objects.filter(month=date(2026, 5, 1)).order_by("pk")
    # The refund took March's 8_000 back out of 2026, so May starts at 0:
    # 8_000 x 70% = 5_600, then 2_000 x 70% = 1_400 and 6_000 x 60% = 3_600.
    assert shares(may) == [(1, 8_000, 5_600), (1, 2_000, 1_400), (2, 6_000, 3_600)]
    basis = tier_basis_cents(creator_id=theme.creator_id, year=2026, at=at(2026, 6, 1))
    assert basis == 8_000 - 8_000 + 8_000 + 8_000 == 16_000
