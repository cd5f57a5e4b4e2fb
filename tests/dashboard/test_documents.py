"""Documents pages: the list, invoices, credit notes, statements, PDFs, billing
details, and the links to them from every billing row."""

import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from pypdf import PdfReader

from billing.models import BillingDetails, ChargeRecord, TaxRate
from billing.services.documents import save_billing_details
from billing.services.packs import purchase_pack
from billing.services.refunds import refund_charge
from billing.services.statements import issue_statements
from billing.tax import REVERSE_CHARGE_NOTE
from billing.units import GB, Period
from store.services.sales import purchase_theme, refund_sale
from tests.factories.accounts import StaffUserFactory, UserFactory
from tests.factories.billing import (
    ChargeRecordFactory,
    PackFactory,
    company_account,
    owner_of,
)
from tests.factories.store import ThemeFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.time_machine(datetime(2026, 6, 10, 12, tzinfo=UTC)),
]


@pytest.fixture(autouse=True)
def rates():
    for country, rate in [("DE", "19"), ("FR", "20"), ("IE", "23")]:
        TaxRate.objects.create(
            country=country, rate_percent=Decimal(rate), valid_from=date(2020, 1, 1)
        )


def details(account, *, country="DE", vat_id="", name="Acme GmbH"):
    save_billing_details(
        account=account,
        actor=owner_of(account),
        legal_name=name,
        address="Friedrichstraße 12\n10117 Berlin",
        country=country,
        vat_id=vat_id,
    )


def buy(account, *, key="buy", price_cents=2000, name="Storage +10 GB"):
    pack = PackFactory(name=name, lines={"storage": 10 * GB}, price_cents=price_cents)
    return purchase_pack(
        account=account, pack=pack, actor=owner_of(account), idempotency_key=key
    )


def refund(charge, **kwargs):
    staff = StaffUserFactory(perms=["billing.refund_charge"])
    return refund_charge(charge=charge, actor=staff, **kwargs)


def url(name, account, *args):
    return reverse(f"dashboard:{name}", args=[account.pk, *args])


def invoice_url(charge):
    return url("user-invoice", charge.account, charge.invoice.number)


def credit_note_url(row):
    return url("user-credit-note", row.account, row.credit_note.number)


@pytest.fixture
def acme(me):
    """A German company the signed-in user owns, with a 19% invoice."""
    account = company_account(owner=me.user)
    details(account)
    return account


def pdf_text(response) -> str:
    reader = PdfReader(io.BytesIO(response.content))
    return "\n".join(page.extract_text() for page in reader.pages)


# The list --------------------------------------------------------------------


def test_the_owner_sees_the_accounts_invoices_and_credit_notes(client, acme):
    charge = buy(acme).charge
    refunded = buy(acme, key="second", name="Bandwidth +100 GB").charge
    refund_row = refund(refunded, customer_reason="bought twice")

    response = client.get(url("user-documents", acme))

    page = response.content.decode()
    assert response.status_code == 200
    assert f'href="{invoice_url(charge)}"' in page
    assert f'href="{invoice_url(refunded)}"' in page
    assert f'href="{credit_note_url(refund_row)}"' in page
    assert "$23.80" in page and "Paid on 10 Jun 2026" in page
    assert f"Credits invoice {refunded.invoice.number} (bought twice)" in page
    assert 'aria-current="page">Documents</a>' in page
    assert url("user-billing-details", acme) in page


def test_a_plain_company_member_can_read_the_documents(client, member_company):
    details(member_company)
    charge = buy(member_company).charge

    listing = client.get(url("user-documents", member_company))
    invoice = client.get(invoice_url(charge))

    assert listing.status_code == 200
    assert charge.invoice.number in listing.content.decode()
    assert invoice.status_code == 200
    assert charge.invoice.number in invoice.content.decode()


def test_an_outsider_gets_a_404_for_every_document_page(client, me):
    theirs = company_account()
    details(theirs)
    charge = buy(theirs).charge
    refund_row = refund(charge)
    issue_statements(
        period=Period(date(2026, 6, 1)), at=datetime(2026, 7, 1, 3, tzinfo=UTC)
    )
    number, note = charge.invoice.number, refund_row.credit_note.number

    for path in [
        url("user-documents", theirs),
        url("user-invoice", theirs, number),
        url("user-invoice-pdf", theirs, number),
        url("user-credit-note", theirs, note),
        url("user-credit-note-pdf", theirs, note),
        url("user-statement", theirs, "2026-06"),
        url("user-statement-pdf", theirs, "2026-06"),
        url("user-billing-details", theirs),
    ]:
        assert client.get(path).status_code == 404, path


def test_another_accounts_document_number_is_a_404_under_my_account(client, me, acme):
    theirs = company_account()
    charge = buy(theirs).charge
    refund_row = refund(charge)

    assert (
        client.get(url("user-invoice", acme, charge.invoice.number)).status_code == 404
    )
    assert (
        client.get(url("user-invoice-pdf", acme, charge.invoice.number)).status_code
        == 404
    )
    assert (
        client.get(
            url("user-credit-note", acme, refund_row.credit_note.number)
        ).status_code
        == 404
    )
    assert client.get(url("user-invoice", acme, "INV-2026-999999")).status_code == 404
    assert client.get(url("user-statement", acme, "2026-13")).status_code == 404


def test_the_year_filter_shows_one_year_and_offers_every_year(client, acme):
    with time_machine.travel(datetime(2025, 11, 3, 9, tzinfo=UTC), tick=False):
        old = buy(acme, key="old", name="Old pack").charge
    new = buy(acme, key="new", name="New pack").charge

    everything = client.get(url("user-documents", acme)).content.decode()
    in_2025 = client.get(url("user-documents", acme), {"year": "2025"}).content.decode()
    nonsense = client.get(url("user-documents", acme), {"year": "x; DROP"})
    for edge in ("0000", "9999", "12026", "２０２６"):
        response = client.get(url("user-documents", acme), {"year": edge})
        assert response.status_code == 200
        assert new.invoice.number in response.content.decode(), edge

    assert old.invoice.number in everything and new.invoice.number in everything
    assert old.invoice.number in in_2025 and new.invoice.number not in in_2025
    assert '<option value="2025" selected>2025</option>' in in_2025
    assert '<option value="2026">2026</option>' in in_2025
    assert '<select id="documents-year" name="year">' in everything
    assert '<button type="submit" class="button small">Show</button>' in everything
    assert nonsense.status_code == 200
    assert new.invoice.number in nonsense.content.decode()
    empty = client.get(url("user-documents", acme), {"year": "2019"}).content.decode()
    assert "No documents in 2019." in empty


def test_an_account_without_documents_says_so(client, me):
    page = client.get(url("user-documents", me)).content.decode()
    assert "No documents yet" in page


def test_the_list_takes_a_fixed_number_of_queries(
    client, acme, django_assert_max_num_queries
):
    for n in range(6):
        charge = buy(acme, key=f"k{n}", name=f"Pack {n}").charge
        if n % 2:
            refund(charge)
    issue_statements(
        period=Period(date(2026, 6, 1)), at=datetime(2026, 7, 1, 3, tzinfo=UTC)
    )

    client.get(url("user-overview", acme))  # the session remembers the account
    # Session, user, accounts, the manager check, the applied theme; then
    # nine for the documents, however many there are.
    with django_assert_max_num_queries(14):
        response = client.get(url("user-documents", acme))

    page = response.content.decode()
    assert page.count('id="invoice-') == 6
    assert page.count('id="credit-note-') == 3
    assert page.count('id="statement-') == 1


# A document's page -------------------------------------------------------------


def test_an_invoice_page_shows_number_parties_lines_and_totals(client, acme):
    charge = buy(acme).charge

    response = client.get(invoice_url(charge))

    page = response.content.decode()
    assert response.status_code == 200
    shown = [
        '<h1 id="doc-title">Invoice</h1>',
        charge.invoice.number,
        # The seller, with the bank details to pay to.
        "Example Media Ltd",
        "IE1234567T",
        "IBAN IE29",
        # The buyer as issued.
        "Acme GmbH",
        "Friedrichstraße 12",
        "Germany",
        # The line, its rate and the totals.
        "Storage +10 GB",
        "$20.00",
        "19%",
        "$3.80",
        "$23.80",
        "Paid on 10 Jun 2026",
    ]
    assert [text for text in shown if text not in page] == []
    assert REVERSE_CHARGE_NOTE not in page


def test_an_invoice_page_stands_alone_with_a_print_toolbar(client, acme):
    charge = buy(acme).charge

    page = client.get(invoice_url(charge)).content.decode()

    # No dashboard navigation, a toolbar instead.
    assert 'class="tabs"' not in page
    assert "Sign out" not in page
    assert re.search(r'<link rel="stylesheet" href="[^"]*documents\.css">', page)
    assert f'href="{url("user-documents", acme)}">Back to documents</a>' in page
    pdf = url("user-invoice-pdf", acme, charge.invoice.number)
    assert f'href="{pdf}">Download PDF</a>' in page
    assert re.search(r'<script src="[^"]*print\.js" nonce="[^"]+" defer>', page)
    assert "data-print hidden>Print</button>" in page
    assert " style=" not in page
    assert "<style" not in page


def test_a_reverse_charged_invoice_shows_the_legal_note(client, me):
    globex = company_account(owner=me.user)
    details(globex, country="FR", vat_id="FR40303265045", name="Globex SAS")
    charge = buy(globex).charge

    page = client.get(invoice_url(charge)).content.decode()

    assert REVERSE_CHARGE_NOTE in page
    assert "0%" in page and "$20.00" in page and "FR40303265045" in page


def test_a_credit_note_page_links_its_invoice_and_back(client, acme):
    charge = buy(acme).charge
    refund_row = refund(charge, amount_cents=1190, customer_reason="half unused")

    note_page = client.get(credit_note_url(refund_row)).content.decode()
    invoice_page = client.get(invoice_url(charge)).content.decode()

    assert '<h1 id="doc-title">Credit note</h1>' in note_page
    assert f'href="{invoice_url(charge)}">{charge.invoice.number}</a>' in note_page
    assert "Total credited" in note_page and "$11.90" in note_page
    assert f"Credits invoice {charge.invoice.number} (half unused)" in note_page
    assert f'href="{credit_note_url(refund_row)}"' in invoice_page
    assert "Refunded $11.90 of $23.80" in invoice_page


def test_a_statement_page_shows_amounts_due_and_links_its_references(client, acme):
    charge = buy(acme).charge
    issue_statements(
        period=Period(date(2026, 6, 1)), at=datetime(2026, 7, 1, 3, tzinfo=UTC)
    )

    response = client.get(url("user-statement", acme, "2026-06"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Statement of account" in page and "June 2026" in page
    assert "Opening amount due" in page and "Closing amount due" in page
    assert f'href="{invoice_url(charge)}">{charge.invoice.number}</a>' in page
    assert "$23.80" in page
    listing = client.get(url("user-documents", acme)).content.decode()
    assert url("user-statement", acme, "2026-06") in listing


def test_document_pages_take_a_fixed_number_of_queries(
    client, acme, django_assert_max_num_queries
):
    charge = buy(acme).charge
    refund_row = refund(charge, amount_cents=100)
    issue_statements(
        period=Period(date(2026, 6, 1)), at=datetime(2026, 7, 1, 3, tzinfo=UTC)
    )
    client.get(url("user-overview", acme))  # the session remembers the account
    # Five for the page (session, user, accounts, manager check, applied
    # theme) and three for the document with its lines and references.
    for path in (
        invoice_url(charge),
        credit_note_url(refund_row),
        url("user-statement", acme, "2026-06"),
    ):
        with django_assert_max_num_queries(8):
            assert client.get(path).status_code == 200


# PDFs ------------------------------------------------------------------------


def test_an_invoice_downloads_as_a_pdf_with_its_number_and_total(client, acme):
    charge = buy(acme).charge
    number = charge.invoice.number

    response = client.get(url("user-invoice-pdf", acme, number))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{number}.pdf"'
    text = pdf_text(response)
    assert number in text and "$23.80" in text and "Acme GmbH" in text


def test_credit_notes_and_statements_download_as_pdfs(client, acme):
    charge = buy(acme).charge
    refund_row = refund(charge)
    issue_statements(
        period=Period(date(2026, 6, 1)), at=datetime(2026, 7, 1, 3, tzinfo=UTC)
    )
    note = refund_row.credit_note.number

    note_pdf = client.get(url("user-credit-note-pdf", acme, note))
    statement_pdf = client.get(url("user-statement-pdf", acme, "2026-06"))

    assert note_pdf["Content-Disposition"] == f'attachment; filename="{note}.pdf"'
    assert note in pdf_text(note_pdf)
    assert statement_pdf["Content-Disposition"] == (
        'attachment; filename="statement-2026-06.pdf"'
    )
    assert "June 2026" in pdf_text(statement_pdf)


def test_without_the_pdf_library_the_page_works_and_the_pdf_answers_503(
    client, acme, monkeypatch
):
    monkeypatch.setattr("dashboard.views.documents.pdf_available", lambda: False)
    charge = buy(acme).charge

    page = client.get(invoice_url(charge)).content.decode()
    pdf = client.get(url("user-invoice-pdf", acme, charge.invoice.number))

    assert "PDF downloads are unavailable on this server" in page
    assert "Download PDF" not in page
    assert pdf.status_code == 503
    assert "unavailable" in pdf.content.decode()
    assert invoice_url(charge) in pdf.content.decode()


# Billing details ---------------------------------------------------------------


def test_the_owner_saves_billing_details(client, acme):
    response = client.post(
        url("user-billing-details", acme),
        {
            "legal_name": "Acme Europe GmbH",
            "address": "Unter den Linden 1\n10117 Berlin",
            "country": "DE",
            "vat_id": "de 811 234 567",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == url("user-billing-details", acme)
    saved = BillingDetails.objects.get(account=acme)
    assert (saved.legal_name, saved.country.code, saved.vat_id) == (
        "Acme Europe GmbH",
        "DE",
        "DE811234567",
    )
    page = client.get(response["Location"]).content.decode()
    assert "Billing details saved" in page
    assert 'value="Acme Europe GmbH"' in page
    assert "Documents already issued keep the details they were issued with" in page


def test_a_bad_vat_id_shows_the_error_and_saves_nothing(client, acme):
    before = BillingDetails.objects.get(account=acme)

    response = client.post(
        url("user-billing-details", acme),
        {"legal_name": "Acme GmbH", "address": "", "country": "DE", "vat_id": "DE12"},
    )

    page = response.content.decode()
    assert response.status_code == 422
    assert 'class="form-error" role="alert"' in page
    assert "DE12 is not a VAT id in the format DE issues" in page
    assert 'value="DE12"' in page
    after = BillingDetails.objects.get(account=acme)
    assert (after.vat_id, after.updated_at) == (before.vat_id, before.updated_at)


def test_a_missing_legal_name_is_asked_for(client, acme):
    response = client.post(url("user-billing-details", acme), {"legal_name": " "})
    assert response.status_code == 422
    assert "Give the legal name your documents are for." in response.content.decode()


def test_a_member_reads_the_details_but_cannot_change_them(client, member_company):
    details(member_company, name="Member Co GmbH")

    page = client.get(url("user-billing-details", member_company)).content.decode()
    response = client.post(
        url("user-billing-details", member_company),
        {"legal_name": "Hijacked", "country": "DE"},
    )

    assert "Member Co GmbH" in page and 'id="details-read-only"' in page
    assert '<form method="post" class="details-form"' not in page
    assert response.status_code == 403
    assert BillingDetails.objects.get(account=member_company).legal_name == (
        "Member Co GmbH"
    )


def test_new_details_reach_new_invoices_only(client, acme):
    first = buy(acme, key="first").charge
    client.post(
        url("user-billing-details", acme),
        {"legal_name": "Renamed GmbH", "address": "", "country": "DE", "vat_id": ""},
    )
    second = buy(acme, key="second").charge

    assert "Acme GmbH" in client.get(invoice_url(first)).content.decode()
    second_page = client.get(invoice_url(second)).content.decode()
    assert "Renamed GmbH" in second_page and "Acme GmbH" not in second_page


# Links from billing rows -------------------------------------------------------


def test_billing_rows_link_their_invoice_and_credit_note(
    client, acme, django_assert_max_num_queries, settings
):
    paid = buy(acme, key="paid").charge
    refunded = buy(acme, key="refunded").charge
    refund_row = refund(refunded)
    legacy = ChargeRecordFactory(account=acme, status=ChargeRecord.Status.PAID)
    settings.BILLING_SANDBOX_DECLINE = True
    declined = buy(acme, key="declined").charge
    assert declined.status == ChargeRecord.Status.FAILED

    with django_assert_max_num_queries(12):
        page = client.get(url("user-billing", acme)).content.decode()

    def row(charge):
        return re.search(rf'<tr id="charge-{charge.pk}".*?</tr>', page, re.S).group(0)

    assert f'href="{invoice_url(paid)}"' in row(paid)
    assert f'href="{invoice_url(refunded)}"' in row(refunded)
    assert f'href="{credit_note_url(refund_row)}"' in row(refund_row)
    assert "None: declined" in row(declined)
    assert ">None</span>" in row(legacy)
    assert url("user-documents", acme) in page
    assert url("user-billing-details", acme) in page


def test_a_charge_receipt_names_its_invoice_or_why_there_is_none(
    client, acme, settings, django_assert_max_num_queries
):
    paid = buy(acme, key="paid").charge
    refund_row = refund(buy(acme, key="refunded").charge)
    legacy = ChargeRecordFactory(account=acme, status=ChargeRecord.Status.PAID)
    settings.BILLING_SANDBOX_DECLINE = True
    declined = buy(acme, key="declined").charge
    client.get(url("user-overview", acme))  # the session remembers the account

    def receipt(charge):
        with django_assert_max_num_queries(7):
            response = client.get(url("user-charge", acme, charge.pk))
        return response.content.decode()

    assert f'href="{invoice_url(paid)}"' in receipt(paid)
    refund_page = receipt(refund_row)
    assert "Credit note</dt>" in refund_page
    assert f'href="{credit_note_url(refund_row)}"' in refund_page
    assert "No invoice: the payment was declined" in receipt(declined)
    assert "No invoice: charged before invoices were issued" in receipt(legacy)
    assert "Not issued yet" not in receipt(paid)


def test_a_purchase_receipt_links_its_invoice_and_credit_note(
    client, acme, django_assert_max_num_queries
):
    result = buy(acme)
    refund_row = refund(result.charge)
    client.get(url("user-overview", acme))  # the session remembers the account

    # The receipt's own reads and the quota cards: the documents come with
    # the charges.
    with django_assert_max_num_queries(17):
        response = client.get(url("user-receipt", acme, result.purchase.pk))

    page = response.content.decode()
    assert f'href="{invoice_url(result.charge)}"' in page
    assert f'href="{credit_note_url(refund_row)}"' in page
    assert "Not issued yet" not in page


def test_a_store_receipt_links_the_sales_invoice_and_credit_note(
    client, me, django_assert_max_num_queries
):
    sale = purchase_theme(
        actor=me.user, theme=ThemeFactory(price_cents=1500), idempotency_key="t"
    ).sale
    receipt = reverse("dashboard:store-receipt", args=[sale.pk])
    charge = sale.charge

    page = client.get(receipt).content.decode()
    assert f'href="{invoice_url(charge)}"' in page

    refund_sale(sale=sale, actor=StaffUserFactory(perms=["billing.refund_charge"]))
    with django_assert_max_num_queries(8):
        page = client.get(receipt).content.decode()
    refund_row = charge.refunds.get()
    assert f'href="{invoice_url(charge)}"' in page
    assert f'href="{credit_note_url(refund_row)}"' in page


def test_staff_reading_a_store_receipt_see_numbers_without_links(client):
    buyer = UserFactory()
    sale = purchase_theme(
        actor=buyer, theme=ThemeFactory(price_cents=1500), idempotency_key="t"
    ).sale
    client.force_login(StaffUserFactory(perms=["store.view_sale"]))

    page = client.get(
        reverse("dashboard:store-receipt", args=[sale.pk])
    ).content.decode()

    assert sale.charge.invoice.number in page
    assert invoice_url(sale.charge) not in page


def test_the_account_switcher_keeps_the_documents_page(client, me, acme):
    response = client.post(
        reverse("dashboard:user-switch"),
        {"account": me.pk, "page": "user-documents"},
    )
    assert response["Location"] == url("user-documents", me)
