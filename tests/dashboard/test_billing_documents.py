"""Every charge on the Billing page opens its document; Pay asks first."""

import re
from datetime import UTC, date, datetime

import pytest
from django.urls import reverse

from billing.models import Account, ChargeRecord, Pack
from billing.services.packs import purchase_pack
from billing.services.payments import SandboxGateway
from billing.services.periods import close_billing_period
from billing.services.refunds import refund_charge
from billing.units import GB, Period, format_cents
from store.services.sales import purchase_bundle, purchase_theme
from tests.factories.accounts import MembershipFactory, StaffUserFactory
from tests.factories.billing import (
    ChargeRecordFactory,
    OverageConsentFactory,
    company_account,
    meter,
    personal_account,
    record_usage,
)
from tests.factories.store import BundleFactory, ThemeFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.time_machine(datetime(2026, 6, 10, 12, tzinfo=UTC)),
]

MAY = Period(date(2026, 5, 1))  # 31 days, closed on 1 June


def billing_url(account):
    return reverse("dashboard:user-billing", args=[account.pk])


def pay_url(account):
    return reverse("dashboard:user-pay", args=[account.pk])


def charge_url(account, charge):
    return reverse("dashboard:user-charge", args=[account.pk, charge.pk])


def row_link(page: str, charge: ChargeRecord) -> str:
    """The document link in the charge's row of the Billing page."""
    row = re.search(rf'<tr id="charge-{charge.pk}".*?</tr>', page, re.S)
    assert row, f"no row for charge {charge.pk}"
    link = re.search(r'<a href="([^"]+)" class="charge-link">', row.group(0))
    assert link, f"charge {charge.pk}'s row links to no document"
    return link.group(1)


use = record_usage


def may_overage(account):
    """Consented overage in May, billed by May's close: bandwidth 2 GB over
    (18c); storage 3 GB over for the last 16 days (48 GB-days / 31 x 10c)."""
    Account.objects.filter(pk=account.pk).update(
        created_at=datetime(2026, 4, 1, tzinfo=UTC)
    )
    for code in ("bandwidth", "storage"):
        OverageConsentFactory(
            account=account,
            meter=meter(code),
            cap_cents=10_000,
            period_start=MAY.start,
            given_at=MAY.starts_at,
        )
    use(account, "bandwidth", 7 * GB, datetime(2026, 5, 12, tzinfo=UTC))
    use(account, "storage", 5 * GB, datetime(2026, 5, 16, tzinfo=UTC))
    close_billing_period(period=MAY, at=datetime(2026, 6, 1, 2, tzinfo=UTC))
    return {
        c.meter.code: c
        for c in account.charges.filter(kind="overage").select_related("meter")
    }


def every_kind(account):
    """One charge of each kind the services (and factories) make."""
    user = account.user
    pack = purchase_pack(
        account=account,
        pack=Pack.objects.get(code="storage-50gb-once"),
        actor=user,
        idempotency_key="doc-pack",
    ).charge
    refunded = purchase_pack(
        account=account,
        pack=Pack.objects.get(code="bandwidth-100gb-once"),
        actor=user,
        idempotency_key="doc-refunded",
    ).charge
    refund = refund_charge(
        charge=refunded,
        actor=StaffUserFactory(perms=["billing.refund_charge"]),
        customer_reason="bought by mistake",
    )
    theme = purchase_theme(
        actor=user, theme=ThemeFactory(name="Aurora"), idempotency_key="doc-theme"
    ).sale.charge
    bundle = purchase_bundle(
        actor=user,
        bundle=BundleFactory(name="Summer set", themes=[ThemeFactory()]),
        idempotency_key="doc-bundle",
    ).sale.charge
    adjustment = ChargeRecordFactory(account=account, description="Goodwill correction")
    return {
        "capacity_pack": pack,
        "refunded_pack": refunded,
        "refund": refund,
        "theme": theme,
        "bundle": bundle,
        "adjustment": adjustment,
        **{f"overage_{code}": c for code, c in may_overage(account).items()},
    }


def test_every_charge_row_links_to_a_document_that_opens(client, me):
    charges = every_kind(me)
    page = client.get(billing_url(me)).content.decode()

    for name, charge in charges.items():
        url = row_link(page, charge)
        if charge.kind in ("capacity_pack", "slot_pack", "renewal"):
            assert url == reverse(
                "dashboard:user-receipt", args=[me.pk, charge.purchase_id]
            )
        else:
            assert url == charge_url(me, charge), name
        document = client.get(url)
        assert document.status_code == 200, name
        assert format_cents(charge.amount_cents) in document.content.decode()


def test_a_refund_row_links_to_the_refund_and_its_original(client, me):
    charges = every_kind(me)
    refund, original = charges["refund"], charges["refunded_pack"]
    page = client.get(billing_url(me)).content.decode()
    receipt = reverse("dashboard:user-receipt", args=[me.pk, original.purchase_id])
    assert f'Refund of <a href="{receipt}">charge #{original.pk}</a>' in page
    assert f'<a href="{charge_url(me, refund)}">charge #{refund.pk}</a>' in page

    document = client.get(charge_url(me, refund)).content.decode()
    assert "Refund receipt" in document
    assert f'<a href="{receipt}">Charge #{original.pk}</a>' in document
    assert format_cents(refund.amount_cents) in document
    assert "bought by mistake" in document


def test_an_overage_receipt_shows_meter_period_and_the_figures(client, me):
    bandwidth = may_overage(me)["bandwidth"]
    assert bandwidth.amount_cents == 18

    page = client.get(charge_url(me, bandwidth)).content.decode()

    assert "Overage on Bandwidth, May 2026" in page
    assert "$0.09 per GB" in page
    assert "2.0 GB while your overage consent was live" in page
    assert "<strong>$0.18</strong>" in page
    assert "Spending cap</dt><dd>$100.00" in page
    assert "Charge — payment due" in page and "Pending" in page
    assert "Invoice</dt>" in page and f">{bandwidth.invoice.number}</a>" in page
    assert f"{me.name} (personal account)" in page


def test_a_storage_overage_receipt_gives_the_average_over_the_month(client, me):
    storage = may_overage(me)["storage"]
    assert storage.amount_cents == 15  # 48 GB-days / 31 days x 10c

    page = client.get(charge_url(me, storage)).content.decode()

    assert "Overage on Storage, May 2026" in page
    assert "1.5 GB on average over the period's 31 days" in page
    assert "<strong>$0.15</strong>" in page


def test_an_overage_receipt_without_matching_figures_shows_only_the_charge(client, me):
    """A charge the facts do not give again is shown as charged, never re-added."""
    charge = ChargeRecordFactory(
        account=me,
        kind="overage",
        meter=meter("bandwidth"),
        period_start=MAY.start,
        amount_cents=4321,
        description="Bandwidth overage, 2026-05",
    )
    page = client.get(charge_url(me, charge)).content.decode()
    assert "Overage on Bandwidth, May 2026" in page
    assert "<strong>$43.21</strong>, the overage used under your consent" in page
    assert "while your overage consent was live" not in page


def test_a_theme_receipt_says_what_was_bought_paid_when_and_how(client, me):
    charge = purchase_theme(
        actor=me.user, theme=ThemeFactory(name="Aurora"), idempotency_key="t-1"
    ).sale.charge

    page = client.get(charge_url(me, charge)).content.decode()

    assert "Theme from the store" in page and "Theme: Aurora" in page
    assert "<h1>Receipt</h1>" in page
    assert "Paid 10 Jun 2026" in page
    assert charge.gateway_reference and charge.gateway_reference in page
    assert "me@example.com" in page


def test_someone_elses_charge_is_a_404(client, me):
    stranger = personal_account()
    theirs = ChargeRecordFactory(account=stranger)
    # Neither under their account nor smuggled under mine.
    assert client.get(charge_url(stranger, theirs)).status_code == 404
    assert client.get(charge_url(me, theirs)).status_code == 404


def test_a_company_member_can_open_company_charges(client, member_company):
    charge = ChargeRecordFactory(account=member_company, description="Acme adjustment")
    page = client.get(billing_url(member_company)).content.decode()
    assert row_link(page, charge) == charge_url(member_company, charge)
    assert client.get(charge_url(member_company, charge)).status_code == 200


def test_billing_and_charge_pages_take_a_fixed_number_of_queries(
    client, me, django_assert_max_num_queries
):
    charges = every_kind(me)
    ChargeRecordFactory.create_batch(12, account=me, status=ChargeRecord.Status.PAID)
    with django_assert_max_num_queries(12):
        page = client.get(billing_url(me))
    assert page.status_code == 200 and page.content.decode().count("charge-link") == 20
    # An overage receipt refolds its period from the facts: a few more.
    for name in ("overage_bandwidth", "overage_storage"):
        with django_assert_max_num_queries(13):
            assert client.get(charge_url(me, charges[name])).status_code == 200
    for name in ("refund", "theme", "adjustment"):
        with django_assert_max_num_queries(7):
            assert client.get(charge_url(me, charges[name])).status_code == 200
    with django_assert_max_num_queries(6):
        assert client.get(pay_url(me)).status_code == 200


# Paying ----------------------------------------------------------------


def confirm_form(client, account):
    """What the confirmation page posts: its token and the charges it listed."""
    page = client.get(pay_url(account)).content.decode()
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    ids = re.findall(r'name="charge" value="(\d+)"', page)
    return {"token": token, "charge": ids}


@pytest.fixture
def gateway_calls(monkeypatch):
    calls = []
    charge = SandboxGateway.charge

    def counting(self, **kwargs):
        calls.append(kwargs["amount_cents"])
        return charge(self, **kwargs)

    monkeypatch.setattr(SandboxGateway, "charge", counting)
    return calls


def test_billing_page_pay_leads_to_the_confirmation(client, me):
    ChargeRecordFactory(account=me, amount_cents=250)
    page = client.get(billing_url(me)).content.decode()
    assert f'href="{pay_url(me)}">Pay $2.50…</a>' in page
    assert 'method="post" action="' + pay_url(me) not in page


def test_pay_page_lists_what_will_be_paid_and_pays_nothing(client, me, gateway_calls):
    ChargeRecordFactory(account=me, amount_cents=250, description="Bandwidth overage")
    ChargeRecordFactory(account=me, amount_cents=125, description="Storage overage")
    ChargeRecordFactory(account=me, amount_cents=999, status="paid", description="Old")

    response = client.get(pay_url(me))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Bandwidth overage" in page and "$2.50" in page
    assert "Storage overage" in page and "$1.25" in page
    assert "Old" not in page
    assert "Total (2 charges)" in page and "$3.75" in page
    assert "Confirm and pay $3.75" in page
    assert gateway_calls == []
    assert me.charges.filter(status="pending").count() == 2


def test_confirming_pays_the_listed_charges_once(client, me, gateway_calls):
    first = ChargeRecordFactory(
        account=me, amount_cents=250, description="Bandwidth overage"
    )
    second = ChargeRecordFactory(
        account=me, amount_cents=125, description="Storage overage"
    )
    form = confirm_form(client, me)

    paid = client.post(pay_url(me), form, follow=True).content.decode()
    again = client.post(pay_url(me), form, follow=True).content.decode()  # double

    assert "Paid $3.75 for 2 charges: Bandwidth overage; Storage overage." in paid
    assert "Already paid" in again and "Nothing was charged again." in again
    assert gateway_calls == [375]
    for charge in (first, second):
        charge.refresh_from_db()
        assert charge.status == "paid" and charge.gateway_reference


def test_a_list_that_changed_is_shown_again_unpaid(client, me, gateway_calls):
    ChargeRecordFactory(account=me, amount_cents=250, description="Bandwidth overage")
    form = confirm_form(client, me)
    ChargeRecordFactory(account=me, amount_cents=700, description="Late adjustment")

    response = client.post(pay_url(me), form)

    page = response.content.decode()
    assert response.status_code == 409
    assert "changed since this page was opened" in page
    assert "Late adjustment" in page and "Confirm and pay $9.50" in page
    assert gateway_calls == []
    assert me.charges.filter(status="pending").count() == 2


def test_declined_payment_changes_nothing(client, me, settings):
    settings.BILLING_SANDBOX_DECLINE = True
    charge = ChargeRecordFactory(account=me, amount_cents=250)
    page = client.post(pay_url(me), confirm_form(client, me), follow=True)
    text = page.content.decode()
    assert page.redirect_chain[-1][0] == billing_url(me)
    assert "Payment declined" in text and "Nothing was charged" in text
    charge.refresh_from_db()
    assert charge.status == "pending" and not charge.gateway_reference


def test_nothing_pending_says_so(client, me, gateway_calls):
    ChargeRecordFactory(account=me, status="paid")
    page = client.get(pay_url(me)).content.decode()
    assert "there is nothing to pay" in page
    assert "Confirm and pay" not in page
    response = client.post(pay_url(me), {"token": "x" * 32}, follow=True)
    assert "There is nothing to pay" in response.content.decode()
    assert gateway_calls == []


def test_a_member_without_rights_sees_the_list_but_cannot_pay(
    client, member_company, gateway_calls
):
    charge = ChargeRecordFactory(account=member_company, amount_cents=250)
    page = client.get(pay_url(member_company)).content.decode()
    assert "$2.50" in page and "Confirm and pay" not in page
    assert f"Only owners and admins of {member_company.name} can pay." in page
    form = {"token": "x" * 32, "charge": [str(charge.pk)]}

    assert client.post(pay_url(member_company), form).status_code == 403

    charge.refresh_from_db()
    assert charge.status == "pending" and gateway_calls == []


def test_a_company_admin_pays_the_company_charges(client, me, gateway_calls):
    account = company_account()
    MembershipFactory(company=account.company, user=me.user, admin=True)
    ChargeRecordFactory(account=account, amount_cents=400)
    response = client.post(pay_url(account), confirm_form(client, account))
    assert response.status_code == 302
    assert gateway_calls == [400]
    assert not account.charges.filter(status="pending").exists()
