"""Revenue-share maths on hand-computed examples, plus property tests."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.units import split_by_weights
from store.revenue import (
    DEFAULT_TERMS,
    PolicyTerms,
    Tier,
    apply_monthly_cap,
    held_back,
    split_by_tiers,
)

# 70% of the first $1,000 a year, 60% up to $10,000, 50% beyond; cap $500/month.
TERMS = DEFAULT_TERMS


def shares(gross, ytd):
    return [
        (line.tier, line.gross_cents, line.creator_cents, line.platform_cents)
        for line in split_by_tiers(
            gross_cents=gross, year_to_date_cents=ytd, terms=TERMS
        )
    ]


def test_a_sale_inside_the_first_tier():
    assert shares(1500, 0) == [(1, 1500, 1050, 450)]


def test_a_sale_ending_exactly_on_the_boundary_stays_in_the_lower_tier():
    assert shares(1000, 99_000) == [(1, 1000, 700, 300)]


def test_a_sale_starting_exactly_on_the_boundary_is_in_the_next_tier():
    assert shares(1000, 100_000) == [(2, 1000, 600, 400)]


def test_a_sale_straddling_a_boundary_is_split_across_the_tiers():
    # $1,043 after $0: $1,000 at 70% and $43 at 60%.
    assert shares(104_300, 0) == [
        (1, 100_000, 70_000, 30_000),
        (2, 4_300, 2_580, 1_720),
    ]


def test_a_sale_spanning_all_three_tiers():
    # $9,999.99 already sold; a $20.00 sale: 1c at 60%, $19.99 at 50%.
    assert shares(2000, 999_999) == [(2, 1, 1, 0), (3, 1999, 1000, 999)]


def test_each_line_rounds_half_up_once():
    # 70% of 1c = 0.7c -> 1c; 70% of 5c = 3.5c -> 4c; 50% of 3c = 1.5c -> 2c.
    assert shares(1, 0) == [(1, 1, 1, 0)]
    assert shares(5, 0) == [(1, 5, 4, 1)]
    assert shares(3, 2_000_000) == [(3, 3, 2, 1)]


def test_bundle_split_follows_list_prices_and_adds_up():
    # $25.00 over list prices $12, $9, $15: 833.33.., 625, 1041.66.. cents.
    assert split_by_weights(total_cents=2500, weights=[1200, 900, 1500]) == [
        833,
        625,
        1042,
    ]


def test_bundle_split_with_free_themes_only_shares_equally():
    assert split_by_weights(total_cents=1000, weights=[0, 0, 0]) == [334, 333, 333]


def test_cap_carries_the_excess_to_the_next_month():
    # Cap $500. Jan earns $725.80: pays 500, carries 225.80. Feb earns 7.20:
    # pays 233.00. Mar earns 900: pays 500, carries 400. Apr nothing: pays 400.
    months = [date(2026, m, 1) for m in (1, 2, 3, 4)]
    rows = apply_monthly_cap(
        earned=list(zip(months, [72_580, 720, 90_000, 0], [50_000] * 4, strict=True))
    )
    assert [
        (r.carried_in_cents, r.payable_cents, r.carried_out_cents) for r in rows
    ] == [
        (0, 50_000, 22_580),
        (22_580, 23_300, 0),
        (0, 50_000, 40_000),
        (40_000, 40_000, 0),
    ]


def test_a_carry_larger_than_the_cap_takes_several_months():
    months = [date(2026, m, 1) for m in (1, 2, 3)]
    rows = apply_monthly_cap(
        earned=list(zip(months, [130_000, 0, 0], [50_000] * 3, strict=True))
    )
    assert [r.payable_cents for r in rows] == [50_000, 50_000, 30_000]
    assert rows[-1].carried_out_cents == 0


def test_no_cap_pays_everything():
    rows = apply_monthly_cap(earned=[(date(2026, 1, 1), 999_999, None)])
    assert (rows[0].payable_cents, rows[0].carried_out_cents) == (999_999, 0)


def test_held_back_fills_the_remaining_room_line_by_line():
    assert held_back(creator_cents=[10_430, 10_430], headroom_cents=8_280) == [
        2_150,
        10_430,
    ]
    assert held_back(creator_cents=[500], headroom_cents=None) == [0]
    assert held_back(creator_cents=[500], headroom_cents=-100) == [500]


def test_invalid_tiers_are_refused():
    with pytest.raises(ValueError, match="last tier"):
        PolicyTerms(tiers=(Tier(100, Decimal(70)),), monthly_cap_cents=None)
    with pytest.raises(ValueError, match="ascending"):
        PolicyTerms(
            tiers=(
                Tier(500, Decimal(70)),
                Tier(100, Decimal(60)),
                Tier(None, Decimal(50)),
            ),
            monthly_cap_cents=None,
        )
    with pytest.raises(ValueError, match="percentage"):
        PolicyTerms(tiers=(Tier(None, Decimal(101)),), monthly_cap_cents=None)


# Properties ----------------------------------------------------------------

percents = st.decimals(min_value=0, max_value=100, places=2)


@st.composite
def policies(draw):
    ceilings = sorted(
        draw(st.sets(st.integers(min_value=1, max_value=10**8), max_size=4))
    )
    tiers = [Tier(c, draw(percents)) for c in ceilings] + [Tier(None, draw(percents))]
    return PolicyTerms(tiers=tuple(tiers), monthly_cap_cents=None)


@given(
    terms=policies(),
    gross=st.integers(min_value=0, max_value=10**9),
    ytd=st.integers(min_value=0, max_value=10**9),
)
def test_shares_always_sum_to_the_price_and_are_never_negative(terms, gross, ytd):
    lines = split_by_tiers(gross_cents=gross, year_to_date_cents=ytd, terms=terms)
    assert sum(line.gross_cents for line in lines) == gross
    for line in lines:
        assert line.creator_cents + line.platform_cents == line.gross_cents
        assert line.creator_cents >= 0 and line.platform_cents >= 0
    assert [line.tier for line in lines] == sorted({line.tier for line in lines})


@given(
    total=st.integers(min_value=0, max_value=10**9),
    weights=st.lists(
        st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12
    ),
)
def test_bundle_parts_sum_to_the_price_and_are_never_negative(total, weights):
    parts = split_by_weights(total_cents=total, weights=weights)
    assert sum(parts) == total
    assert all(p >= 0 for p in parts)
    if sum(weights):
        assert all(p == 0 for p, w in zip(parts, weights, strict=True) if w == 0)


@given(
    earned=st.lists(
        st.integers(min_value=-(10**6), max_value=10**7), min_size=1, max_size=24
    ),
    cap=st.one_of(st.none(), st.integers(min_value=0, max_value=10**7)),
)
def test_the_cap_never_loses_or_invents_money(earned, cap):
    months = [date(2000 + i // 12, i % 12 + 1, 1) for i in range(len(earned))]
    rows = apply_monthly_cap(
        earned=[(m, e, cap) for m, e in zip(months, earned, strict=True)]
    )
    assert sum(r.payable_cents for r in rows) + rows[-1].carried_out_cents == sum(
        earned
    )
    for row in rows:
        assert row.carried_out_cents >= 0
        if cap is not None:
            assert row.payable_cents <= cap
