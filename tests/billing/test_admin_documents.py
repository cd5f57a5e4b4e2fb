"""Staff admin for documents and tax.

Invoices, credit notes and statements are read-only facts, shown to staff
with the view permission; tax rates are saved on record and become history
once invoiced; billing details are saved through their service.
"""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from billing.documents import LineIn, quote_charge
from billing.errors import InvalidRequest, MissingPermission
from billing.models import (
    AuditEntry,
    BillingDetails,
    CreditNote,
    Invoice,
    Statement,
    TaxRate,
)
from billing.services.documents import issue_invoice
from billing.services.packs import purchase_pack, refund_charge
from billing.services.statements import issue_statements
from billing.services.tax_rates import delete_tax_rate, save_tax_rate
from billing.units import parse_period
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import (
    ChargeFactory,
    PackFactory,
    PlatformAccountFactory,
    owner_of,
    personal_account,
)

pytestmark = pytest.mark.django_db

NOV_5 = datetime(2026, 11, 5, 10, tzinfo=UTC)
NOV_10 = datetime(2026, 11, 10, 10, tzinfo=UTC)
DEC_2 = datetime(2026, 12, 2, 12, tzinfo=UTC)
VIEW_DOCUMENTS = [
    "billing.view_invoice",
    "billing.view_creditnote",
    "billing.view_statement",
]


def url(model: type, view: str, *args: object) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def buy(account, *, price_cents: int = 1000, key: str = "k", when=NOV_5):
    with time_machine.travel(when, tick=False):
        pack = PackFactory(
            lines={"storage": 10**9}, price_cents=price_cents, name="Storage pack"
        )
        return purchase_pack(
            account=account, pack=pack, user=owner_of(account), idempotency_key=key
        ).charge


@pytest.fixture
def documents():
    """An invoice, its partial refund's credit note and November's statement."""
    with time_machine.travel(NOV_5, tick=False):
        account = personal_account(name="Carla Customer")
    charge = buy(account)
    with time_machine.travel(NOV_10, tick=False):
        refund_charge(charge=charge, staff_user=None, amount_cents=400)
    issue_statements(period=parse_period("2026-11"), now=DEC_2)
    return {
        "account": account,
        "invoice": charge.invoice,
        "credit_note": charge.refunds.get().credit_note,
        "statement": Statement.objects.get(account=account),
    }


@pytest.fixture
def reader(client):
    client.force_login(StaffUserFactory(perms=VIEW_DOCUMENTS))
    return client


# Issued documents -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["invoice", "credit_note", "statement"])
def test_staff_with_the_view_permission_read_a_document_and_its_lines(
    reader, documents, kind
):
    document = documents[kind]
    model = type(document)

    listing = reader.get(url(model, "changelist"))
    page = reader.get(url(model, "change", document.pk))

    assert listing.status_code == page.status_code == 200
    html = page.content.decode()
    # The lines inline: the pack's line, or the statement's payment.
    line = "Storage pack" if kind != "statement" else "Payment received"
    assert line in html
    # Money as money: the lines' rate, or the payment lowering the amount due.
    assert ("0.00%" if kind != "statement" else "-$10.00") in html
    assert 'name="_save"' not in html
    assert reader.post(url(model, "change", document.pk), {}).status_code == 403
    assert reader.get(url(model, "add")).status_code == 403
    assert reader.get(url(model, "delete", document.pk)).status_code == 403


def test_the_lists_show_number_account_date_gross_and_status(reader, documents):
    invoices = reader.get(url(Invoice, "changelist")).content.decode()
    notes = reader.get(url(CreditNote, "changelist")).content.decode()
    statements = reader.get(url(Statement, "changelist")).content.decode()

    number = documents["invoice"].number
    assert number in invoices and "Carla Customer" in invoices
    assert "$10.00" in invoices and "partly refunded" in invoices
    assert documents["credit_note"].number in notes and "$4.00" in notes
    assert "refund" in notes and number in notes
    # November: 10.00 charged and paid, 4.00 paid out and credited.
    assert "2026-11" in statements and "$0.00" in statements


def test_staff_without_the_view_permission_see_no_documents(client, documents):
    client.force_login(StaffUserFactory(perms=["billing.view_chargerecord"]))

    for model in (Invoice, CreditNote, Statement):
        assert client.get(url(model, "changelist")).status_code == 403
    invoice = documents["invoice"]
    assert client.get(url(Invoice, "change", invoice.pk)).status_code == 403


def test_documents_are_found_by_number_account_name_and_external_id(reader):
    with time_machine.travel(NOV_5, tick=False):
        mine = personal_account(name="Dora Findme")
        platform = PlatformAccountFactory(name="Platform Co", external_id="acct_xyz")
        charge = ChargeFactory(account=platform, amount_cents=700, status="paid")
        quote = quote_charge(
            account=platform, lines=[LineIn("API usage", 700)], at=NOV_5
        )
        platform_invoice = issue_invoice(
            charge=charge,
            quote=quote,
            period_start=date(2026, 11, 1),
            period_end=date(2026, 11, 30),
            at=NOV_5,
        )
    my_invoice = buy(mine, key="mine").invoice

    def found(query: str) -> set[str]:
        page = reader.get(url(Invoice, "changelist"), {"q": query}).content.decode()
        return {
            number
            for number in (my_invoice.number, platform_invoice.number)
            if number in page
        }

    assert found(my_invoice.number) == {my_invoice.number}
    assert found("Findme") == {my_invoice.number}
    assert found("acct_xyz") == {platform_invoice.number}


@pytest.mark.parametrize("model", [Invoice, CreditNote, Statement])
def test_the_lists_do_no_query_per_row(reader, model, django_assert_max_num_queries):
    for i in range(6):
        with time_machine.travel(NOV_5, tick=False):
            account = personal_account()
        charge = buy(account, key=f"k{i}")
        with time_machine.travel(NOV_10, tick=False):
            refund_charge(charge=charge, staff_user=None, amount_cents=100)
    issue_statements(period=parse_period("2026-11"), now=DEC_2)
    assert model.objects.count() == 6

    with django_assert_max_num_queries(10):
        response = reader.get(url(model, "changelist"))
    assert response.status_code == 200


# Tax rates ----------------------------------------------------------------------


@pytest.fixture
def tax_staff(client):
    user = StaffUserFactory(
        perms=[
            "billing.view_taxrate",
            "billing.add_taxrate",
            "billing.change_taxrate",
            "billing.delete_taxrate",
        ]
    )
    client.force_login(user)
    client.user = user
    return client


def rate_form(**overrides: str) -> dict[str, str]:
    return {
        "country": "IE",
        "name": "VAT",
        "rate_percent": "23",
        "valid_from": "2020-01-01",
        **overrides,
    }


def invoiced_in_ireland() -> Invoice:
    """An invoice of 5 Nov 2026 to a buyer without a country: taxed in IE."""
    with time_machine.travel(NOV_5, tick=False):
        account = personal_account()
    return buy(account, key="ie").invoice


@time_machine.travel(DEC_2, tick=False)
def test_staff_add_a_rate_on_record(tax_staff):
    response = tax_staff.post(url(TaxRate, "add"), rate_form())

    assert response.status_code == 302
    rate = TaxRate.objects.get()
    assert (rate.country, rate.rate_percent) == ("IE", Decimal("23.00"))
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.target_id) == (
        "tax_rate_created",
        tax_staff.user,
        str(rate.pk),
    )
    assert entry.after == {
        "rate_percent": "23.00",
        "valid_from": "2020-01-01",
        "name": "VAT",
        "country": "IE",
    }


@time_machine.travel(DEC_2, tick=False)
def test_a_rate_not_yet_invoiced_can_change_and_the_change_is_recorded(tax_staff):
    rate = TaxRate.objects.create(
        country="IE", rate_percent=Decimal(23), valid_from=date(2027, 1, 1)
    )

    response = tax_staff.post(
        url(TaxRate, "change", rate.pk),
        rate_form(rate_percent="21", valid_from="2027-01-01"),
    )

    assert response.status_code == 302
    rate.refresh_from_db()
    assert rate.rate_percent == Decimal("21.00")
    entry = AuditEntry.objects.get()
    assert entry.action == "tax_rate_changed"
    assert (entry.before, entry.after) == (
        {"rate_percent": "23.00"},
        {"rate_percent": "21.00"},
    )


@time_machine.travel(DEC_2, tick=False)
def test_a_rate_invoices_were_issued_at_is_read_only(tax_staff):
    rate = TaxRate.objects.create(
        country="IE", rate_percent=Decimal(23), valid_from=date(2020, 1, 1)
    )
    invoiced_in_ireland()

    page = tax_staff.get(url(TaxRate, "change", rate.pk))

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert "it is history now" in page.content.decode()
    changed = tax_staff.post(
        url(TaxRate, "change", rate.pk), rate_form(rate_percent="21")
    )
    assert changed.status_code == 403
    assert (
        tax_staff.post(url(TaxRate, "delete", rate.pk), {"post": "yes"}).status_code
        == 403
    )
    rate.refresh_from_db()
    assert rate.rate_percent == Decimal("23.00")
    assert not AuditEntry.objects.exists()


@time_machine.travel(DEC_2, tick=False)
def test_a_new_rate_from_after_the_last_invoice_is_the_way_to_change(tax_staff):
    TaxRate.objects.create(
        country="IE", rate_percent=Decimal(23), valid_from=date(2020, 1, 1)
    )
    invoice = invoiced_in_ireland()

    backdated = tax_staff.post(
        url(TaxRate, "add"), rate_form(rate_percent="21", valid_from="2026-11-01")
    )
    same_day = tax_staff.post(
        url(TaxRate, "add"), rate_form(rate_percent="21", valid_from="2026-11-05")
    )
    next_day = tax_staff.post(
        url(TaxRate, "add"), rate_form(rate_percent="21", valid_from="2026-11-06")
    )

    assert backdated.status_code == same_day.status_code == 200
    assert f"Invoice {invoice.number} was issued on 2026-11-05" in (
        backdated.content.decode()
    )
    assert next_day.status_code == 302
    assert list(TaxRate.objects.values_list("valid_from", flat=True)) == [
        date(2026, 11, 6),
        date(2020, 1, 1),
    ]


@time_machine.travel(DEC_2, tick=False)
def test_other_countries_rates_and_reverse_charged_invoices_lock_nothing(tax_staff):
    german = TaxRate.objects.create(
        country="DE", rate_percent=Decimal(19), valid_from=date(2020, 1, 1)
    )
    invoiced_in_ireland()

    response = tax_staff.post(
        url(TaxRate, "change", german.pk),
        rate_form(country="DE", rate_percent="16", valid_from="2020-01-01"),
    )

    assert response.status_code == 302
    german.refresh_from_db()
    assert german.rate_percent == Decimal("16.00")


@time_machine.travel(DEC_2, tick=False)
def test_deleting_a_rate_is_checked_and_recorded():
    staff = StaffUserFactory(perms=["billing.delete_taxrate"])
    used = TaxRate.objects.create(
        country="IE", rate_percent=Decimal(23), valid_from=date(2020, 1, 1)
    )
    unused = TaxRate.objects.create(
        country="IE", rate_percent=Decimal(21), valid_from=date(2027, 1, 1)
    )
    invoiced_in_ireland()

    with pytest.raises(InvalidRequest, match="Issued invoices keep their rate"):
        delete_tax_rate(tax_rate=used, staff_user=staff)
    delete_tax_rate(tax_rate=unused, staff_user=staff)

    assert list(TaxRate.objects.all()) == [used]
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.before["rate_percent"]) == ("tax_rate_deleted", "21.00")


@time_machine.travel(DEC_2, tick=False)
def test_the_service_checks_the_permission_and_the_invoices_itself():
    rate = TaxRate(country="IE", rate_percent=Decimal(21), valid_from=date(2026, 11, 1))
    invoiced_in_ireland()

    with pytest.raises(MissingPermission):
        save_tax_rate(tax_rate=rate, staff_user=StaffUserFactory())
    with pytest.raises(InvalidRequest, match="the rate of that day cannot change"):
        save_tax_rate(
            tax_rate=rate, staff_user=StaffUserFactory(perms=["billing.add_taxrate"])
        )
    assert not TaxRate.objects.exists()


# Billing details ----------------------------------------------------------------


@pytest.fixture
def details_staff(client):
    client.force_login(
        StaffUserFactory(
            perms=[
                "billing.view_billingdetails",
                "billing.add_billingdetails",
                "billing.change_billingdetails",
                "billing.view_account",
            ]
        )
    )
    return client


def details_form(account, **overrides: str) -> dict[str, str]:
    return {
        "account": str(account.pk),
        "legal_name": "Buyer GmbH",
        "address": "1 Main Street\n10115 Berlin",
        "country": "DE",
        "vat_id": "",
        **overrides,
    }


def test_staff_add_billing_details_with_the_vat_id_normalised(details_staff):
    account = personal_account()

    response = details_staff.post(
        url(BillingDetails, "add"), details_form(account, vat_id="de 123.456-789")
    )

    assert response.status_code == 302
    details = BillingDetails.objects.get(account=account)
    assert (details.legal_name, details.country, details.vat_id) == (
        "Buyer GmbH",
        "DE",
        "DE123456789",
    )


def test_a_vat_id_in_the_wrong_format_is_shown_on_the_field(details_staff):
    account = personal_account()

    response = details_staff.post(
        url(BillingDetails, "add"), details_form(account, vat_id="DE12")
    )

    assert response.status_code == 200
    assert "is not a VAT id in the format DE issues" in response.content.decode()
    assert not BillingDetails.objects.exists()


def test_staff_change_billing_details_through_the_service(details_staff):
    account = personal_account()
    with time_machine.travel(NOV_5, tick=False):
        response = details_staff.post(url(BillingDetails, "add"), details_form(account))
    details = BillingDetails.objects.get()
    assert details.updated_at == NOV_5

    with time_machine.travel(DEC_2, tick=False):
        response = details_staff.post(
            url(BillingDetails, "change", details.pk),
            details_form(account, legal_name="  Renamed GmbH ", country="FR"),
        )

    assert response.status_code == 302
    details.refresh_from_db()
    # The service strips the name and stamps the change.
    assert (details.legal_name, details.country, details.updated_at) == (
        "Renamed GmbH",
        "FR",
        DEC_2,
    )
    assert BillingDetails.objects.count() == 1
    assert (
        details_staff.get(url(BillingDetails, "delete", details.pk)).status_code == 403
    )
