"""Buying themes and bundles, licences, refunds, and the earnings ledger."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from billing.errors import AlreadyRefunded, IdempotencyConflict
from billing.models import ChargeRecord
from store.errors import AlreadyOwned, NotLicensed, NotOnSale, OwnTheme
from store.models import AppliedTheme, EarningLine, Licence, Sale
from store.selectors import active_theme_stylesheet, list_owned_themes
from store.selectors.earnings import earnings_overview, payouts_due
from store.services.sales import (
    apply_theme,
    purchase_bundle,
    purchase_theme,
    refund_sale,
)
from store.services.themes import reject_theme
from tests.factories.accounts import StaffUserFactory, UserFactory
from tests.factories.store import BundleFactory, PayoutFactory, ThemeFactory

pytestmark = pytest.mark.django_db


def buy(user, theme, key="k", **kwargs):
    return purchase_theme(
        actor=user, theme=theme, idempotency_key=f"{key}-{user.pk}", **kwargs
    )


def test_buying_a_theme_makes_a_perpetual_licence_a_paid_charge_and_earnings():
    buyer, theme = UserFactory(), ThemeFactory(price_cents=1500)

    result = buy(buyer, theme)

    assert result.approved and result.created
    licence = Licence.objects.get(account__user=buyer, theme=theme)
    assert licence.expires_at is None
    charge = result.sale.charge
    assert (charge.kind, charge.amount_cents, charge.status) == ("theme", 1500, "paid")
    line = EarningLine.objects.get(sale=result.sale)
    assert (
        line.creator_id,
        line.gross_cents,
        line.creator_cents,
        line.platform_cents,
    ) == (
        theme.creator_id,
        1500,
        1050,
        450,
    )


def test_the_same_token_twice_is_one_sale_and_one_charge():
    buyer, theme = UserFactory(), ThemeFactory()
    first = buy(buyer, theme, key="same")
    second = buy(buyer, theme, key="same")
    assert second.sale == first.sale and not second.created
    assert ChargeRecord.objects.count() == 1
    assert Licence.objects.count() == 1


def test_buying_an_owned_theme_again_is_refused():
    buyer, theme = UserFactory(), ThemeFactory()
    buy(buyer, theme, key="one")
    with pytest.raises(AlreadyOwned, match="already own"):
        buy(buyer, theme, key="two")
    assert ChargeRecord.objects.count() == 1


def test_a_declined_payment_leaves_a_failed_charge_and_no_licence(settings):
    settings.BILLING_SANDBOX_DECLINE = True
    buyer, theme = UserFactory(), ThemeFactory()

    result = buy(buyer, theme)

    assert not result.approved
    assert result.sale.charge.status == ChargeRecord.Status.FAILED
    assert not Licence.objects.exists()
    assert not EarningLine.objects.exists()
    settings.BILLING_SANDBOX_DECLINE = False
    assert buy(buyer, theme, key="retry").approved  # a new token may try again


def test_a_token_sent_for_another_item_is_a_conflict_and_charges_nothing():
    buyer, theme, other = UserFactory(), ThemeFactory(), ThemeFactory()
    bundle = BundleFactory(themes=[ThemeFactory()])
    buy(buyer, theme, key="tok")

    with pytest.raises(IdempotencyConflict) as excinfo:
        buy(buyer, other, key="tok")
    assert excinfo.value.code == "idempotency_conflict"
    with pytest.raises(IdempotencyConflict):
        purchase_bundle(actor=buyer, bundle=bundle, idempotency_key=f"tok-{buyer.pk}")

    assert [s.theme for s in Sale.objects.all()] == [theme]
    assert ChargeRecord.objects.count() == 1


def test_a_theme_owned_for_good_through_a_bundle_is_not_sold_again():
    buyer, theme = UserFactory(), ThemeFactory()
    purchase_bundle(
        actor=buyer, bundle=BundleFactory(themes=[theme]), idempotency_key="b"
    )
    with pytest.raises(AlreadyOwned, match="already own"):
        buy(buyer, theme)
    assert ChargeRecord.objects.filter(kind="theme").count() == 0


def test_a_theme_held_for_a_while_through_a_bundle_can_be_bought_to_keep():
    buyer, theme = UserFactory(), ThemeFactory()
    bundle = BundleFactory(themes=[theme], licence_days=30)
    purchase_bundle(actor=buyer, bundle=bundle, idempotency_key="b")

    assert buy(buyer, theme).approved

    assert Licence.objects.filter(theme=theme, expires_at__isnull=True).count() == 1


def test_unlisted_and_own_themes_cannot_be_bought():
    buyer = UserFactory()
    with pytest.raises(NotOnSale):
        buy(buyer, ThemeFactory(in_review=True))
    own = ThemeFactory(creator=buyer)
    with pytest.raises(OwnTheme):
        buy(buyer, own)


def test_a_free_theme_is_licensed_without_a_charge_or_earnings():
    buyer = UserFactory()
    result = buy(buyer, ThemeFactory(free=True))
    assert result.approved and result.sale.charge is None
    assert Licence.objects.filter(account__user=buyer).exists()
    assert not EarningLine.objects.exists()


@pytest.mark.parametrize(
    ("offset", "allowed"),
    [
        (timedelta(seconds=-1), False),  # a second before it opens
        (timedelta(0), True),  # the opening instant
        (timedelta(days=7) - timedelta(microseconds=1), True),  # last instant
        (timedelta(days=7), False),  # the closing instant is excluded
    ],
)
def test_bundle_window_edges(offset, allowed):
    opens = timezone.now().replace(microsecond=0) + timedelta(days=1)
    bundle = BundleFactory(
        themes=[ThemeFactory()],
        available_from=opens,
        available_until=opens + timedelta(days=7),
    )
    buyer = UserFactory()

    def attempt():
        return purchase_bundle(
            actor=buyer, bundle=bundle, idempotency_key="edge", at=opens + offset
        )

    if allowed:
        assert attempt().approved
    else:
        with pytest.raises(NotOnSale):
            attempt()
        assert not Sale.objects.exists()


def test_upcoming_and_ended_bundles_say_so():
    buyer = UserFactory()
    with pytest.raises(NotOnSale, match="goes on sale"):
        purchase_bundle(
            actor=buyer,
            bundle=BundleFactory(upcoming=True, themes=[ThemeFactory()]),
            idempotency_key="u",
        )
    with pytest.raises(NotOnSale, match="has ended"):
        purchase_bundle(
            actor=buyer,
            bundle=BundleFactory(ended=True, themes=[ThemeFactory()]),
            idempotency_key="e",
        )


def test_a_bundle_with_a_withdrawn_theme_is_paused_and_sells_nothing():
    listed, pulled = ThemeFactory(), ThemeFactory()
    bundle = BundleFactory(themes=[listed, pulled])
    reject_theme(
        theme=pulled,
        actor=StaffUserFactory(perms=["store.review_theme"]),
        reason="Stolen",
    )
    buyer = UserFactory()
    with pytest.raises(NotOnSale, match="paused"):
        purchase_bundle(actor=buyer, bundle=bundle, idempotency_key="p")
    assert not Licence.objects.filter(account__user=buyer).exists()
    assert not ChargeRecord.objects.filter(account__user=buyer).exists()


def test_bundle_revenue_is_split_by_list_price_to_the_cent():
    a, b, c = (
        ThemeFactory(price_cents=1200),
        ThemeFactory(price_cents=900),
        ThemeFactory(price_cents=1500),
    )
    bundle = BundleFactory(themes=[a, b, c], price_cents=2500, licence_days=90)
    buyer = UserFactory()

    sale = purchase_bundle(actor=buyer, bundle=bundle, idempotency_key="b").sale

    gross = dict(
        EarningLine.objects.filter(sale=sale)
        .values("theme")
        .annotate(total=Sum("gross_cents"))
        .values_list("theme", "total")
    )
    assert gross == {a.pk: 833, b.pk: 625, c.pk: 1042}
    totals = EarningLine.objects.filter(sale=sale).aggregate(
        creator=Sum("creator_cents"), platform=Sum("platform_cents")
    )
    assert totals["creator"] + totals["platform"] == 2500
    assert sale.charge.kind == ChargeRecord.Kind.BUNDLE
    expiry = {lic.expires_at for lic in Licence.objects.filter(sale=sale)}
    assert expiry == {sale.created_at + timedelta(days=90)}


def test_an_expired_bundle_licence_falls_back_to_the_default_theme():
    theme = ThemeFactory()
    bundle = BundleFactory(themes=[theme], licence_days=30)
    buyer = UserFactory()
    purchase_bundle(actor=buyer, bundle=bundle, idempotency_key="x")
    apply_theme(actor=buyer, theme=theme)
    assert active_theme_stylesheet(user=buyer)[0] == theme.pk

    Licence.objects.update(
        starts_at=timezone.now() - timedelta(days=31),
        expires_at=timezone.now() - timedelta(seconds=1),
    )

    assert active_theme_stylesheet(user=buyer) is None
    assert list_owned_themes(user=buyer) == []
    with pytest.raises(NotLicensed):
        apply_theme(actor=buyer, theme=theme)


def test_applying_needs_a_licence_and_default_removes_the_choice():
    buyer, theme = UserFactory(), ThemeFactory()
    with pytest.raises(NotLicensed):
        apply_theme(actor=buyer, theme=theme)
    buy(buyer, theme)
    apply_theme(actor=buyer, theme=theme)
    apply_theme(actor=buyer, theme=None)
    assert not AppliedTheme.objects.exists()


def test_a_refund_reverses_charge_licence_and_earnings_lines():
    buyer, theme = UserFactory(), ThemeFactory(price_cents=1500)
    sale = buy(buyer, theme).sale
    apply_theme(actor=buyer, theme=theme)

    refund_sale(
        sale=sale,
        actor=StaffUserFactory(perms=["billing.refund_charge"]),
        customer_reason="mistake",
    )

    sale.refresh_from_db()
    assert sale.status == Sale.Status.REFUNDED
    refund = ChargeRecord.objects.get(kind=ChargeRecord.Kind.REFUND)
    assert refund.amount_cents == -1500
    assert active_theme_stylesheet(user=buyer) is None
    totals = EarningLine.objects.filter(sale=sale).aggregate(
        gross=Sum("gross_cents"),
        creator=Sum("creator_cents"),
        platform=Sum("platform_cents"),
    )
    assert totals == {"gross": 0, "creator": 0, "platform": 0}
    with pytest.raises(AlreadyRefunded):
        refund_sale(sale=sale, actor=None)
    # Refunded, the theme can be bought again.
    assert buy(buyer, theme, key="again").approved


@pytest.mark.time_machine(datetime(2026, 4, 16, 12, tzinfo=UTC))
def test_lines_record_the_tier_boundary_and_the_cap_hold_back():
    """Seven $149 sales: the 7th straddles $1,000; the cap holds back past $500."""
    theme = ThemeFactory(price_cents=14_900)
    for _ in range(7):
        buy(UserFactory(), theme)

    lines = list(EarningLine.objects.order_by("pk"))
    assert [(line.tier, line.gross_cents) for line in lines[-2:]] == [
        (1, 10_600),
        (2, 4_300),
    ]
    creator_total = sum(line.creator_cents for line in lines)
    assert creator_total == 6 * 10_430 + 7_420 + 2_580 == 72_580
    assert sum(line.held_cents for line in lines) == 72_580 - 50_000
    # The 5th sale is the one that crosses the cap: 4 x 104.30 = 417.20 paid.
    assert [line.held_cents for line in lines[:5]] == [0, 0, 0, 0, 10_430 - 8_280]

    overview = earnings_overview(creator=theme.creator)
    assert overview.held_cents == 22_580
    assert overview.tier.number == 2
    assert overview.tier.to_next_cents == 1_000_000 - 104_300


def test_payouts_due_subtract_what_was_paid_for_finished_months():
    theme = ThemeFactory(price_cents=10_000)
    last_month = timezone.now().replace(day=1) - timedelta(days=3)
    buy(UserFactory(), theme, at=last_month)
    PayoutFactory(creator=theme.creator, amount_cents=2_000)

    [row] = payouts_due(viewer=StaffUserFactory(perms=["store.view_payouts"]))

    assert (row.payable_cents, row.paid_cents, row.due_cents) == (7_000, 2_000, 5_000)
