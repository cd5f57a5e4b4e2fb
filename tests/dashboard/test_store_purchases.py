"""Buying themes and bundles: confirmation page, purchase token, receipt."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from billing.models import ChargeRecord
from store.models import Licence, Sale
from store.services.sales import purchase_bundle, purchase_theme, refund_sale
from tests.factories.accounts import StaffUserFactory, UserFactory
from tests.factories.store import BundleFactory, ThemeFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.time_machine(datetime(2026, 6, 10, 12, tzinfo=UTC)),
]


@pytest.fixture
def buyer(client):
    user = UserFactory(name="Bea Buyer")
    client.force_login(user)
    return user


def theme_confirm(theme):
    return reverse("dashboard:store-theme-confirm", args=[theme.pk])


def bundle_confirm(bundle):
    return reverse("dashboard:store-bundle-confirm", args=[bundle.pk])


def token_of(response) -> str:
    return response.content.decode().split('name="token" value="')[1].split('"')[0]


# Themes ----------------------------------------------------------------------


def test_the_confirmation_page_shows_what_is_bought_and_charges_nothing(
    client, buyer, django_assert_max_num_queries
):
    creator = UserFactory(name="Mara Maker")
    theme = ThemeFactory(name="Harbour", creator=creator, price_cents=1500)

    # The quote adds two: the billing details and the tax rate.
    with django_assert_max_num_queries(14):
        response = client.get(theme_confirm(theme))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Harbour" in page and "Mara Maker" in page
    assert "Confirm and pay $15.00" in page
    assert "Bea Buyer" in page  # the personal account that pays
    assert "payment gateway" in page
    assert 'name="token"' in page
    cancel = reverse("dashboard:store-theme", args=[theme.pk])
    assert f'href="{cancel}">Cancel</a>' in page
    assert not Sale.objects.exists()
    assert not ChargeRecord.objects.exists()


def test_confirming_makes_one_sale_and_one_charge_and_shows_the_receipt(client, buyer):
    theme = ThemeFactory(name="Harbour", price_cents=1500)
    token = token_of(client.get(theme_confirm(theme)))

    response = client.post(theme_confirm(theme), {"token": token})

    sale = Sale.objects.get(account__user=buyer)
    assert response.status_code == 302
    assert response.url == reverse("dashboard:store-receipt", args=[sale.pk])
    charge = ChargeRecord.objects.get(account__user=buyer)
    assert (charge.kind, charge.amount_cents, charge.status) == ("theme", 1500, "paid")
    assert Licence.objects.filter(account__user=buyer, theme=theme).count() == 1
    receipt = client.get(response.url).content.decode()
    assert f"#{sale.pk}" in receipt and f"#{charge.pk}" in receipt
    assert "$15.00" in receipt and "Paid" in receipt and "Completed" in receipt
    assert "10 Jun 2026" in receipt
    assert "Apply Harbour to my dashboard" in receipt
    assert reverse("dashboard:store-library") in receipt


def test_double_submit_and_back_resubmit_replay_the_first_receipt(client, buyer):
    theme = ThemeFactory()
    token = token_of(client.get(theme_confirm(theme)))
    first = client.post(theme_confirm(theme), {"token": token})

    again = client.post(theme_confirm(theme), {"token": token})  # double click
    back = client.get(theme_confirm(theme)).content.decode()  # Back, refetched
    resubmit = client.post(theme_confirm(theme), {"token": token})

    assert again.url == first.url == resubmit.url
    assert "You already own" in back and 'name="token"' not in back
    assert first.url in back  # the receipt of the first purchase
    assert Sale.objects.count() == 1
    assert ChargeRecord.objects.count() == 1


def test_a_token_sent_for_another_theme_is_refused_and_charges_nothing(client, buyer):
    first, other = ThemeFactory(), ThemeFactory()
    client.post(theme_confirm(first), {"token": "tok-" + "x" * 20})

    response = client.post(theme_confirm(other), {"token": "tok-" + "x" * 20})

    page = response.content.decode()
    assert response.status_code == 200
    assert "already used for another purchase" in page
    assert "tok-" + "x" * 20 not in page  # a fresh token: confirming buys it
    assert [s.theme for s in Sale.objects.all()] == [first]
    assert ChargeRecord.objects.count() == 1


def test_the_old_one_click_urls_only_lead_to_the_confirmation_pages(client, buyer):
    theme = ThemeFactory()
    bundle = BundleFactory(themes=[ThemeFactory()])

    old_theme = client.post(
        reverse("dashboard:store-theme-buy", args=[theme.pk]), {"token": "a" * 20}
    )
    old_bundle = client.post(
        reverse("dashboard:store-bundle-buy", args=[bundle.pk]), {"token": "b" * 20}
    )

    assert (old_theme.status_code, old_theme.url) == (303, theme_confirm(theme))
    assert (old_bundle.status_code, old_bundle.url) == (303, bundle_confirm(bundle))
    assert not Sale.objects.exists()
    assert not ChargeRecord.objects.exists()


def test_a_declined_payment_says_why_charges_nothing_and_offers_a_new_token(
    client, buyer, settings
):
    settings.BILLING_SANDBOX_DECLINE = True
    theme = ThemeFactory()
    token = token_of(client.get(theme_confirm(theme)))

    response = client.post(theme_confirm(theme), {"token": token})

    page = response.content.decode()
    assert response.status_code == 200
    assert "Payment declined" in page and "Nothing was charged" in page
    assert not Licence.objects.exists()
    assert not ChargeRecord.objects.filter(status="paid").exists()
    assert ChargeRecord.objects.get().status == "failed"
    fresh = token_of(response)
    assert fresh != token
    settings.BILLING_SANDBOX_DECLINE = False
    assert client.post(theme_confirm(theme), {"token": fresh}).status_code == 302
    assert Licence.objects.filter(account__user=buyer).count() == 1


def test_a_form_without_its_token_buys_nothing(client, buyer):
    theme = ThemeFactory()
    response = client.post(theme_confirm(theme), {})
    assert "please confirm again" in response.content.decode()
    assert not Sale.objects.exists()


def test_an_owned_theme_is_not_offered_again(client, buyer):
    theme = ThemeFactory()
    sale = purchase_theme(actor=buyer, theme=theme, idempotency_key="k").sale

    page = client.get(theme_confirm(theme)).content.decode()

    assert f"You already own {theme.name}" in page
    assert 'name="token"' not in page and "Confirm and pay" not in page
    assert reverse("dashboard:store-receipt", args=[sale.pk]) in page


def test_a_theme_held_through_a_time_limited_bundle_can_be_kept_for_good(client, buyer):
    theme = ThemeFactory(price_cents=900)
    bundle = BundleFactory(themes=[theme], licence_days=30)
    purchase_bundle(actor=buyer, bundle=bundle, idempotency_key="b")

    theme_page = client.get(reverse("dashboard:store-theme", args=[theme.pk]))
    page = client.get(theme_confirm(theme)).content.decode()

    assert "Keep it for good: buy for $9.00" in theme_page.content.decode()
    assert "through a bundle" in page and "Confirm and pay $9.00" in page


# Bundles -----------------------------------------------------------------------


def test_the_bundle_confirmation_lists_themes_saving_and_what_is_owned(
    client, buyer, django_assert_max_num_queries
):
    owned = ThemeFactory(name="Alder", price_cents=1500)
    purchase_theme(actor=buyer, theme=owned, idempotency_key="own")
    bundle = BundleFactory(
        price_cents=2000,
        themes=[
            owned,
            ThemeFactory(name="Birch", price_cents=1500),
            *ThemeFactory.create_batch(3, free=True),
        ],
    )

    with django_assert_max_num_queries(14):  # whatever the number of themes
        response = client.get(bundle_confirm(bundle))

    page = response.content.decode()
    assert "Alder" in page and "Birch" in page
    assert "You save" in page and "$10.00" in page  # $30.00 one by one
    assert "You already have Alder" in page
    assert "Confirm and pay $20.00" in page
    assert Sale.objects.filter(bundle=bundle).count() == 0


def test_confirming_a_bundle_buys_it_once_and_its_receipt_lists_the_licences(
    client, buyer
):
    themes = [ThemeFactory(name="Alder"), ThemeFactory(name="Birch")]
    bundle = BundleFactory(price_cents=2000, themes=themes)
    token = token_of(client.get(bundle_confirm(bundle)))

    first = client.post(bundle_confirm(bundle), {"token": token})
    again = client.post(bundle_confirm(bundle), {"token": token})

    sale = Sale.objects.get(bundle=bundle)
    assert first.url == again.url == reverse("dashboard:store-receipt", args=[sale.pk])
    assert ChargeRecord.objects.filter(kind="bundle").count() == 1
    receipt = client.get(first.url).content.decode()
    assert "Apply Alder to my dashboard" in receipt
    assert "Apply Birch to my dashboard" in receipt
    assert "$20.00" in receipt
    back = client.get(bundle_confirm(bundle)).content.decode()
    assert f"You already bought {bundle.name}" in back and first.url in back


def test_an_ended_bundle_is_not_offered(client, buyer):
    bundle = BundleFactory(themes=[ThemeFactory()], ended=True)
    page = client.get(bundle_confirm(bundle)).content.decode()
    assert "sale has ended" in page and 'name="token"' not in page


# Receipts and the library --------------------------------------------------------


def test_a_receipt_is_for_its_buyer_and_staff_who_read_sales_only(client, buyer):
    sale = purchase_theme(actor=buyer, theme=ThemeFactory(), idempotency_key="k").sale
    url = reverse("dashboard:store-receipt", args=[sale.pk])
    assert client.get(url).status_code == 200

    client.force_login(UserFactory())
    assert client.get(url).status_code == 404
    client.force_login(StaffUserFactory())  # staff without the power
    assert client.get(url).status_code == 404
    client.force_login(StaffUserFactory(perms=["store.view_sale"]))
    staff_view = client.get(url).content.decode()
    assert "Receipt" in staff_view and "Apply" not in staff_view


def test_the_library_links_each_purchase_to_its_receipt(client, buyer):
    theme = ThemeFactory(name="Alder")
    theme_sale = purchase_theme(actor=buyer, theme=theme, idempotency_key="t").sale
    bundle = BundleFactory(themes=[ThemeFactory(name="Birch")])
    bundle_sale = purchase_bundle(actor=buyer, bundle=bundle, idempotency_key="b").sale
    purchase_theme(actor=UserFactory(), theme=ThemeFactory(), idempotency_key="o")

    page = client.get(reverse("dashboard:store-library")).content.decode()

    for sale in (theme_sale, bundle_sale):
        assert reverse("dashboard:store-receipt", args=[sale.pk]) in page
    assert page.count('href="/store/receipts/') == 4  # 2 licences + 2 purchases


def test_a_refunded_purchase_says_so_on_its_receipt(client, buyer):
    sale = purchase_theme(actor=buyer, theme=ThemeFactory(), idempotency_key="k").sale
    refund_sale(sale=sale, actor=None, customer_reason="Changed my mind")

    page = client.get(reverse("dashboard:store-receipt", args=[sale.pk]))

    content = page.content.decode()
    assert "This purchase was refunded" in content
    assert "-$15.00" in content and "Changed my mind" in content
    assert "Apply" not in content


def test_a_licence_that_ended_is_not_offered_to_apply(client, buyer):
    bought_at = datetime(2026, 6, 1, 12, tzinfo=UTC)
    bundle = BundleFactory(
        themes=[ThemeFactory(name="Alder")],
        licence_days=1,
        available_from=bought_at - timedelta(days=1),
    )
    sale = purchase_bundle(
        actor=buyer, bundle=bundle, idempotency_key="b", at=bought_at
    ).sale
    page = client.get(reverse("dashboard:store-receipt", args=[sale.pk])).content
    assert b"Apply Alder" not in page


def test_a_price_changed_after_the_page_was_shown_charges_nothing(client, buyer):
    """The creator raises the price while the buyer reads the free offer."""
    theme = ThemeFactory(name="Harbour", price_cents=0)
    page = client.get(theme_confirm(theme))
    assert 'name="price_cents" value="0"' in page.content.decode()
    theme.price_cents = 100_000
    theme.save(update_fields=["price_cents"])

    response = client.post(
        theme_confirm(theme), {"token": token_of(page), "price_cents": "0"}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "changed from $0.00 to $1,000.00" in html and "Nothing was charged" in html
    assert not Sale.objects.exists() and not ChargeRecord.objects.exists()
    assert "Confirm and pay $1,000.00" in html  # asked again, at the new price


def test_a_bundle_price_changed_after_the_page_was_shown_charges_nothing(client, buyer):
    bundle = BundleFactory(themes=[ThemeFactory()], price_cents=900)
    page = client.get(bundle_confirm(bundle))
    bundle.price_cents = 5_000
    bundle.save(update_fields=["price_cents"])

    response = client.post(
        bundle_confirm(bundle), {"token": token_of(page), "price_cents": "900"}
    )

    assert "changed from $9.00 to $50.00" in response.content.decode()
    assert not Sale.objects.exists() and not ChargeRecord.objects.exists()


def test_a_bundle_receipt_says_when_a_theme_is_also_owned_for_good(client, buyer):
    """The bundle's licence ends; the theme bought alone before does not."""
    owned = ThemeFactory(name="Alder", price_cents=1500)
    other = ThemeFactory(name="Birch", price_cents=900)
    purchase_theme(actor=buyer, theme=owned, idempotency_key="own")
    bundle = BundleFactory(themes=[owned, other], licence_days=90)
    sale = purchase_bundle(actor=buyer, bundle=bundle, idempotency_key="b").sale

    page = client.get(reverse("dashboard:store-receipt", args=[sale.pk])).content
    items = page.decode().split('class="receipt-licences"')[1].split("</ul>")[0]
    alder, birch = items.split("Alder")[1], items.split("Birch")[1].split("Alder")[0]
    assert "(you own it for good through another purchase)" in alder.split("</li>")[0]
    assert "you own it for good" not in birch.split("</li>")[0]
