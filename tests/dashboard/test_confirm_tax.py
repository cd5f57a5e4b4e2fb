"""Confirmation pages show the price, its tax and the total, and post the total.

Prices are stored net; the purchase services collect net + tax at the
buyer's rate and refuse a total other than the one the page showed.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import ChargeRecord, Invoice, Pack, Purchase, TaxRate
from billing.services.documents import save_billing_details
from billing.services.packs import purchase_pack
from store.models import Sale
from tests.factories.accounts import UserFactory
from tests.factories.billing import shift_term
from tests.factories.store import BundleFactory, ThemeFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.time_machine(datetime(2026, 4, 16, 12, tzinfo=UTC)),
]

PACK = "storage-50gb-once"  # $20.00 net
REVERSE_CHARGE = "0% — VAT accounted for by the recipient"


def german_vat() -> TaxRate:
    return TaxRate.objects.create(
        country="DE", rate_percent=Decimal("19.00"), valid_from=date(2020, 1, 1)
    )


def bill_to(account, *, country: str, vat_id: str = "") -> None:
    owner = account.user
    save_billing_details(
        account=account,
        actor=owner,
        legal_name="Muster GmbH",
        country=country,
        vat_id=vat_id,
    )


def buy_url(account, code=PACK):
    return reverse("dashboard:user-buy", args=[account.pk, code])


def token_of(page: str) -> str:
    return page.split('name="token" value="')[1].split('"')[0]


def posted_total(page: str) -> str:
    return page.split('name="price_cents" value="')[1].split('"')[0]


def facts(page: str) -> str:
    """The confirmation card's facts, whitespace squeezed."""
    part = page.split('<dl class="facts">')[1].split("</dl>")[0]
    return " ".join(part.split())


# Packs -------------------------------------------------------------------------


def test_a_german_buyer_sees_net_vat_and_total_and_the_form_posts_the_total(
    client, me, django_assert_max_num_queries
):
    german_vat()
    bill_to(me, country="DE")

    # The limits preview, then the quote: details, owner's e-mail, rate.
    with django_assert_max_num_queries(23):
        page = client.get(buy_url(me)).content.decode()

    shown = facts(page)
    assert '<dt>Price</dt><dd><span class="figure-sm">$20.00</span> <span' in shown
    assert '<dt>VAT 19% (DE)</dt><dd class="figure-sm">$3.80</dd>' in shown
    assert '<dt>Total to pay</dt> <dd> <span class="figure">$23.80</span>' in shown
    assert "Tax follows the billing details of" in shown and "Germany" in shown
    assert posted_total(page) == "2380"
    assert "Confirm and pay $23.80" in page


def test_confirming_charges_the_total_and_invoices_net_and_tax(client, me):
    german_vat()
    bill_to(me, country="DE")
    page = client.get(buy_url(me)).content.decode()

    response = client.post(
        buy_url(me), {"token": token_of(page), "price_cents": posted_total(page)}
    )

    purchase = Purchase.objects.get(account=me)
    assert response.url == reverse("dashboard:user-receipt", args=[me.pk, purchase.pk])
    charge = ChargeRecord.objects.get(account=me)
    assert (charge.status, charge.amount_cents) == ("paid", 2380)
    invoice = Invoice.objects.get(charge=charge)
    assert (invoice.net_cents, invoice.tax_cents, invoice.gross_cents) == (
        2000,
        380,
        2380,
    )
    assert not invoice.reverse_charge


def test_an_eu_business_buyer_is_reverse_charged_and_pays_the_net_price(
    client, me, settings
):
    assert settings.BILLING_SELLER_COUNTRY == "IE"
    TaxRate.objects.create(
        country="FR", rate_percent=Decimal("20.00"), valid_from=date(2020, 1, 1)
    )
    bill_to(me, country="FR", vat_id="FR40303265045")

    page = client.get(buy_url(me)).content.decode()

    shown = facts(page)
    assert f"<dt>Reverse charge</dt><dd>{REVERSE_CHARGE}</dd>" in shown
    assert '<span class="figure">$20.00</span>' in shown
    assert "France, VAT id FR40303265045" in shown
    assert "VAT 20%" not in page
    assert posted_total(page) == "2000"
    client.post(buy_url(me), {"token": token_of(page), "price_cents": "2000"})
    charge = ChargeRecord.objects.get(account=me)
    assert charge.amount_cents == 2000
    assert (charge.invoice.tax_cents, charge.invoice.reverse_charge) == (0, True)


def test_a_rate_added_after_the_page_was_shown_refuses_with_the_new_total(client, me):
    bill_to(me, country="DE")
    page = client.get(buy_url(me)).content.decode()
    assert posted_total(page) == "2000"
    german_vat()  # staff add the rate while the buyer reads the page

    response = client.post(
        buy_url(me), {"token": token_of(page), "price_cents": "2000"}
    )

    again = response.content.decode()
    assert response.status_code == 200
    assert "changed from $20.00 to $23.80" in again and "Nothing was charged" in again
    assert "<dt>VAT 19% (DE)</dt>" in facts(again)
    assert posted_total(again) == "2380"
    assert "Confirm and pay $23.80" in again
    assert not Purchase.objects.filter(account=me).exists()
    assert not ChargeRecord.objects.filter(account=me).exists()


def test_without_a_rate_the_price_is_the_total_and_the_note_names_the_seller_country(
    client, me
):
    page = client.get(buy_url(me)).content.decode()

    shown = facts(page)
    assert '<dt>Price</dt> <dd> <span class="figure">$20.00</span>' in shown
    assert "Total to pay" not in shown and "VAT" not in shown
    assert "with no country given, the rate of Ireland applies" in shown
    assert posted_total(page) == "2000"


def test_the_note_links_to_the_accounts_billing_details(client, me):
    details = reverse("dashboard:user-billing-details", args=[me.pk])
    page = client.get(buy_url(me)).content.decode()
    assert f'<a href="{details}">Add billing details</a>' in facts(page)
    bill_to(me, country="DE")

    page = client.get(buy_url(me)).content.decode()

    assert f'<a href="{details}">Check billing details</a>' in facts(page)
    assert client.get(details).status_code == 200


def test_pack_cards_say_which_tax_checkout_adds(client, me):
    url = reverse("dashboard:user-packs", args=[me.pk])
    assert "added at checkout" not in client.get(url).content.decode()
    german_vat()
    bill_to(me, country="DE")

    page = client.get(url).content.decode()

    card = page.split(f'id="pack-{PACK}"')[1].split('class="pack-kind"')[0]
    assert "$20.00" in card and "Plus VAT 19% (DE), added at checkout" in card


def test_pack_cards_add_nothing_for_a_reverse_charged_buyer(client, me):
    TaxRate.objects.create(
        country="FR", rate_percent=Decimal("20.00"), valid_from=date(2020, 1, 1)
    )
    bill_to(me, country="FR", vat_id="FR40303265045")

    page = client.get(reverse("dashboard:user-packs", args=[me.pk])).content.decode()

    assert "added at checkout" not in page


# Renewals ----------------------------------------------------------------------


def _subscription(account):
    """A 365-day subscription ($18.00 net) whose term ends in 10 days."""
    purchase = purchase_pack(
        account=account,
        pack=Pack.objects.get(code="storage-50gb-sub"),
        actor=account.user,
        idempotency_key=f"sub-{account.pk}",
    ).purchase
    return shift_term(purchase, by=timedelta(days=355))


def test_the_renewal_page_shows_and_posts_the_total_and_renewing_charges_it(
    client, me, django_assert_max_num_queries
):
    purchase = _subscription(me)
    german_vat()
    bill_to(me, country="DE")
    url = reverse("dashboard:user-renew", args=[me.pk, purchase.pk])

    with django_assert_max_num_queries(13):
        page = client.get(url).content.decode()

    shown = facts(page)
    assert '<dt>VAT 19% (DE)</dt><dd class="figure-sm">$3.42</dd>' in shown
    assert '<span class="figure">$21.42</span>' in shown and "(no gap)" in shown
    assert posted_total(page) == "2142" and "Renew for $21.42" in page
    client.post(url, {"token": token_of(page), "price_cents": "2142"})
    renewal = Purchase.objects.get(renewal_of=purchase)
    charge = renewal.charges.get()
    assert charge.amount_cents == 2142
    assert (charge.invoice.net_cents, charge.invoice.tax_cents) == (1800, 342)


def test_a_renewal_refused_for_a_new_rate_shows_the_new_total(client, me):
    purchase = _subscription(me)
    bill_to(me, country="DE")
    url = reverse("dashboard:user-renew", args=[me.pk, purchase.pk])
    page = client.get(url).content.decode()
    german_vat()

    response = client.post(url, {"token": token_of(page), "price_cents": "1800"})

    again = response.content.decode()
    assert "changed from $18.00 to $21.42" in again
    assert posted_total(again) == "2142" and "Renew for $21.42" in again
    assert not Purchase.objects.filter(renewal_of=purchase).exists()


# The store ---------------------------------------------------------------------


@pytest.fixture
def buyer(client):
    user = UserFactory(name="Bea Buyer")
    client.force_login(user)
    german_vat()
    bill_to(user.billing_account, country="DE")
    return user


def test_a_theme_confirmation_shows_and_posts_the_total_and_buying_charges_it(
    client, buyer
):
    theme = ThemeFactory(name="Harbour", price_cents=1500)
    url = reverse("dashboard:store-theme-confirm", args=[theme.pk])

    page = client.get(url).content.decode()

    shown = facts(page)
    assert '<dt>VAT 19% (DE)</dt><dd class="figure-sm">$2.85</dd>' in shown
    assert '<span class="figure">$17.85</span>' in shown
    assert "One payment of $17.85" in shown
    assert posted_total(page) == "1785" and "Confirm and pay $17.85" in page
    client.post(url, {"token": token_of(page), "price_cents": "1785"})
    charge = ChargeRecord.objects.get(account__user=buyer)
    assert charge.amount_cents == 1785
    assert (charge.invoice.net_cents, charge.invoice.tax_cents) == (1500, 285)


def test_a_free_theme_shows_no_tax_and_posts_zero(client, buyer):
    theme = ThemeFactory(free=True)

    page = client.get(reverse("dashboard:store-theme-confirm", args=[theme.pk]))

    html = page.content.decode()
    assert "VAT" not in facts(html) and "Nothing is charged" in html
    assert posted_total(html) == "0"


def test_a_bundle_confirmation_shows_and_posts_the_total(client, buyer):
    bundle = BundleFactory(price_cents=2000, themes=[ThemeFactory(), ThemeFactory()])
    url = reverse("dashboard:store-bundle-confirm", args=[bundle.pk])

    page = client.get(url).content.decode()

    assert '<span class="figure">$23.80</span>' in facts(page)
    assert posted_total(page) == "2380" and "Confirm and pay $23.80" in page
    client.post(url, {"token": token_of(page), "price_cents": "2380"})
    sale = Sale.objects.get(bundle=bundle)
    assert sale.charge.amount_cents == 2380
    assert sale.charge.invoice.tax_cents == 380


def test_a_store_price_refused_for_a_new_rate_shows_the_new_total(client):
    user = UserFactory()
    client.force_login(user)
    bill_to(user.billing_account, country="DE")
    theme = ThemeFactory(price_cents=1500)
    url = reverse("dashboard:store-theme-confirm", args=[theme.pk])
    page = client.get(url).content.decode()
    german_vat()

    response = client.post(url, {"token": token_of(page), "price_cents": "1500"})

    again = response.content.decode()
    assert "changed from $15.00 to $17.85" in again
    assert posted_total(again) == "1785"
    assert not Sale.objects.exists() and not ChargeRecord.objects.exists()
