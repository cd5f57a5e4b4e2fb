"""Races on store purchases: many threads, one buyer or one creator.

Threads start together (``run_concurrently``); the invariants are read from
the database afterwards: one licence and one charge per theme and buyer, and
a creator's earnings follow the tiers and cap as if sales came one by one.
"""

import pytest
from django.db.models import Sum

from billing.models import ChargeRecord
from store.errors import AlreadyOwned
from store.models import EarningLine, Licence, Sale
from store.services.sales import purchase_theme
from tests.factories.accounts import UserFactory
from tests.factories.store import ThemeFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_purchases_of_one_theme_make_one_licence_and_one_charge(
    run_concurrently,
):
    buyer, theme = UserFactory(), ThemeFactory(price_cents=1500)

    # Eight distinct form tokens (eight tabs) and two double-submits of one.
    keys = [f"tab-{i}" for i in range(8)] + ["tab-0", "tab-0"]
    outcomes = run_concurrently(
        lambda i: purchase_theme(actor=buyer, theme=theme, idempotency_key=keys[i]),
        threads=len(keys),
    )

    outcomes.assert_only(AlreadyOwned)
    assert Licence.objects.filter(account__user=buyer, theme=theme).count() == 1
    assert ChargeRecord.objects.filter(account__user=buyer).count() == 1
    assert Sale.objects.filter(account__user=buyer).count() == 1
    # The winner's token replays its sale; every other token is refused.
    assert {r.sale.pk for r in outcomes.results} == {Sale.objects.get().pk}
    assert len(outcomes.results) + len(outcomes.errors) == len(keys)


def test_concurrent_sales_by_one_creator_follow_tiers_and_cap(run_concurrently):
    """Eight $149 sales at once: $1,192 gross, exactly as if sold one by one."""
    theme = ThemeFactory(price_cents=14_900)
    buyers = UserFactory.create_batch(8)

    outcomes = run_concurrently(
        lambda i: purchase_theme(actor=buyers[i], theme=theme, idempotency_key=f"b{i}"),
        threads=8,
    )

    outcomes.assert_only()
    totals = EarningLine.objects.aggregate(
        gross=Sum("gross_cents"),
        creator=Sum("creator_cents"),
        platform=Sum("platform_cents"),
        held=Sum("held_cents"),
    )
    # $1,000 at 70% + $192 at 60% = $700 + $115.20; cap $500 holds $315.20.
    assert totals == {
        "gross": 119_200,
        "creator": 81_520,
        "platform": 119_200 - 81_520,
        "held": 31_520,
    }
    assert (
        EarningLine.objects.filter(tier=2).aggregate(g=Sum("gross_cents"))["g"]
        == 19_200
    )
