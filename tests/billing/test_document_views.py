"""What invoices, credit notes and statements print, read back from the
documents the real sales, refunds, period closes and statement runs issue."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine

from billing.document_views import (
    credit_note_document,
    get_credit_note_for_account,
    get_invoice_for_account,
    get_statement_for_account,
    invoice_document,
    list_account_documents,
    statement_document,
)
from billing.errors import NotFound
from billing.models import TaxRate
from billing.services.documents import save_billing_details
from billing.services.packs import purchase_pack
from billing.services.refunds import refund_charge
from billing.services.statements import issue_statements
from billing.tax import REVERSE_CHARGE_NOTE
from billing.units import GB, Period
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import (
    PackFactory,
    closed_overage_charge,
    company_account,
    owner_of,
    personal_account,
)

pytestmark = pytest.mark.django_db

MARCH_10 = datetime(2026, 3, 10, 12, tzinfo=UTC)
MAY = Period(date(2026, 5, 1))


def frozen(instant):
    return time_machine.travel(instant, tick=False)


@pytest.fixture
def rates():
    for country, rate in [("DE", "19"), ("FR", "20"), ("IE", "23")]:
        TaxRate.objects.create(
            country=country, rate_percent=Decimal(rate), valid_from=date(2020, 1, 1)
        )


def details(account, *, country="DE", vat_id="", name="Buyer GmbH"):
    save_billing_details(
        account=account,
        actor=owner_of(account),
        legal_name=name,
        address="Friedrichstraße 12\n10117 Berlin",
        country=country,
        vat_id=vat_id,
    )


def buy(account, *, price_cents=2000, key="buy", name="Storage +10 GB"):
    pack = PackFactory(name=name, lines={"storage": 10 * GB}, price_cents=price_cents)
    return purchase_pack(
        account=account, pack=pack, actor=owner_of(account), idempotency_key=key
    ).charge


def refund(charge, **kwargs):
    staff = StaffUserFactory(perms=["billing.refund_charge"])
    return refund_charge(charge=charge, actor=staff, **kwargs)


def pending_overage(account):
    """May's consented bandwidth overage (2 GB at 9c), billed at May's close
    on 1 June and still pending."""
    account.created_at = datetime(2026, 4, 1, tzinfo=UTC)
    account.save(update_fields=["created_at"])
    return closed_overage_charge(
        account,
        period=MAY,
        used_bytes=7 * GB,
        closed_at=datetime(2026, 6, 1, 2, tzinfo=UTC),
        event_id="views-bw",
    )


def invoice_view(charge):
    invoice = get_invoice_for_account(
        account=charge.account, number=charge.invoice.number
    )
    return invoice_document(invoice=invoice)


@pytest.fixture
def issued_invoice(rates):
    with frozen(MARCH_10):
        account = personal_account()
        details(account)
        return invoice_view(buy(account, price_cents=2000))


@frozen(MARCH_10)
def test_an_invoice_prints_its_number_dates_and_parties_as_issued(issued_invoice):
    doc = issued_invoice

    assert (doc.kind, doc.title, doc.number) == (
        "invoice",
        "Invoice",
        "INV-2026-000001",
    )
    assert doc.issued_on == date(2026, 3, 10)
    assert doc.period == "10 Mar 2026 – 10 Mar 2027"
    assert doc.status_line == "Paid on 10 Mar 2026"
    assert doc.pdf_filename == "INV-2026-000001.pdf"
    assert doc.seller.name == "Example Media Ltd"
    assert doc.seller_lines == ("1 Harbour Square", "Dublin D02 X123", "Ireland")
    assert doc.buyer.name == "Buyer GmbH"
    assert doc.buyer_lines == ("Friedrichstraße 12", "10117 Berlin", "Germany")


@frozen(MARCH_10)
def test_an_invoice_prints_its_lines_rate_and_totals_as_issued(issued_invoice):
    doc = issued_invoice

    [line] = doc.lines
    assert (line.description, line.quantity, line.rate) == ("Storage +10 GB", 1, "19%")
    assert (line.unit_net_cents, line.net_cents, line.tax_cents, line.gross_cents) == (
        2000,
        2000,
        380,
        2380,
    )
    assert (line.unit_net_display, line.tax_display, line.gross_display) == (
        "$20.00",
        "$3.80",
        "$23.80",
    )
    assert (doc.net_cents, doc.tax_cents, doc.gross_cents) == (2000, 380, 2380)
    assert (doc.net_display, doc.tax_display, doc.gross_display) == (
        "$20.00",
        "$3.80",
        "$23.80",
    )
    assert doc.note == ""
    assert not doc.reverse_charge


@frozen(MARCH_10)
def test_an_invoice_keeps_the_buyer_it_was_issued_to(rates, settings):
    account = personal_account()
    details(account, name="Old Name GmbH")
    charge = buy(account)
    details(account, name="New Name SA", country="FR", vat_id="FR40303265045")
    settings.BILLING_SELLER_NAME = "Renamed Seller"

    doc = invoice_view(charge)

    assert doc.buyer.name == "Old Name GmbH"
    assert doc.buyer.country == "DE" and doc.buyer.vat_id == ""
    assert doc.seller.name == "Example Media Ltd"


@frozen(MARCH_10)
def test_a_reverse_charged_invoice_carries_the_legal_note_at_zero_percent(rates):
    account = company_account()
    details(account, country="FR", vat_id="FR40303265045", name="Globex SAS")

    doc = invoice_view(buy(account, price_cents=2000))

    assert doc.reverse_charge
    assert doc.note == REVERSE_CHARGE_NOTE
    assert [line.rate for line in doc.lines] == ["0%"]
    assert doc.gross_display == "$20.00"
    assert doc.buyer.vat_id == "FR40303265045"


@frozen(MARCH_10)
def test_a_refunded_invoice_names_its_credit_note(rates):
    account = personal_account()
    details(account)
    charge = buy(account)
    refund(charge, customer_reason="bought by mistake")

    doc = invoice_view(charge)

    assert doc.status_line == "Refunded in full on 10 Mar 2026 by CN-2026-000001"
    [ref] = doc.references
    assert (ref.kind, ref.number, ref.gross_display, ref.reason) == (
        "credit_note",
        "CN-2026-000001",
        "$23.80",
        "bought by mistake",
    )


@frozen(MARCH_10)
def test_a_partly_refunded_invoice_says_how_much(rates):
    account = personal_account()
    details(account)
    charge = buy(account)
    refund(charge, amount_cents=500)

    assert invoice_view(charge).status_line == (
        "Refunded $5.00 of $23.80 on 10 Mar 2026 by CN-2026-000001"
    )


@pytest.mark.time_machine(datetime(2026, 6, 10, 12, tzinfo=UTC))
def test_an_unpaid_invoice_is_due_and_a_voided_one_is_cancelled():
    account = personal_account()
    charge = pending_overage(account)
    assert invoice_view(charge).status_line == "Payment due"

    refund(charge)

    charge.refresh_from_db()
    assert charge.status == "void"
    assert invoice_view(charge).status_line == (
        "Cancelled: credited in full by CN-2026-000001"
    )


@frozen(MARCH_10)
def test_a_credit_note_prints_what_it_credits_against_which_invoice(rates):
    account = personal_account()
    details(account)
    charge = buy(account)
    refund_row = refund(charge, amount_cents=1190, customer_reason="half unused")

    note = get_credit_note_for_account(
        account=account, number=refund_row.credit_note.number
    )
    doc = credit_note_document(credit_note=note)

    assert (doc.kind, doc.title, doc.number) == (
        "credit_note",
        "Credit note",
        "CN-2026-000001",
    )
    assert doc.status_line == "Credits invoice INV-2026-000001 (half unused)"
    assert doc.reason == "half unused"
    assert (doc.net_display, doc.tax_display, doc.gross_display) == (
        "$10.00",
        "$1.90",
        "$11.90",
    )
    assert [(line.rate, line.gross_display) for line in doc.lines] == [
        ("19%", "$11.90")
    ]
    assert [(r.kind, r.number) for r in doc.references] == [
        ("invoice", "INV-2026-000001")
    ]
    assert doc.period == "10 Mar 2026 – 10 Mar 2027"
    assert doc.pdf_filename == "CN-2026-000001.pdf"


@frozen(MARCH_10)
def test_another_accounts_documents_are_not_found():
    mine, theirs = personal_account(), personal_account()
    charge = buy(theirs)
    refund_row = refund(charge)

    with pytest.raises(NotFound):
        get_invoice_for_account(account=mine, number=charge.invoice.number)
    with pytest.raises(NotFound):
        get_credit_note_for_account(account=mine, number=refund_row.credit_note.number)


@frozen(MARCH_10)
def test_an_invoice_view_is_built_without_a_query_per_line(
    django_assert_num_queries,
):
    account = personal_account()
    charge = buy(account)
    refund(charge, amount_cents=100)

    # The invoice with its charge, then its lines, then its credit notes.
    with django_assert_num_queries(3):
        invoice = get_invoice_for_account(account=account, number=charge.invoice.number)
        invoice_document(invoice=invoice)


@pytest.mark.time_machine(datetime(2026, 6, 10, 12, tzinfo=UTC))
def test_a_statement_prints_its_month_lines_and_amounts_due():
    account = personal_account()
    pending_overage(account)
    issue_statements(
        period=Period(date(2026, 6, 1)), at=datetime(2026, 7, 1, 3, tzinfo=UTC)
    )

    statement = get_statement_for_account(account=account, month="2026-06")
    doc = statement_document(statement=statement)

    assert doc.title == "Statement of account"
    assert (doc.month, doc.month_name) == ("2026-06", "June 2026")
    assert doc.period == "1 Jun 2026 – 30 Jun 2026"
    assert (doc.period_start, doc.period_end) == (date(2026, 6, 1), date(2026, 6, 30))
    assert doc.buyer.name == statement.buyer_name
    assert doc.opening_due_display == "$0.00"
    assert doc.charges_display == "$0.18"
    assert doc.closing_due_display == "$0.18"
    [line] = doc.lines
    assert (line.on, line.kind, line.reference, line.reference_kind) == (
        date(2026, 6, 1),
        "charge",
        "INV-2026-000001",
        "invoice",
    )
    assert (line.amount_display, line.balance_display) == ("$0.18", "$0.18")
    assert doc.pdf_filename == "statement-2026-06.pdf"


def test_a_month_that_is_not_a_month_finds_no_statement():
    account = personal_account()
    for month in ("2026-13", "june", "2026-6", ""):
        with pytest.raises(NotFound):
            get_statement_for_account(account=account, month=month)


def test_the_document_list_filters_by_year_and_offers_the_years_with_documents(
    django_assert_num_queries,
):
    account = personal_account()
    with frozen(datetime(2025, 12, 31, 23, 30, tzinfo=UTC)):
        old = buy(account, key="old", name="Old pack")
    with frozen(datetime(2026, 1, 1, 0, 30, tzinfo=UTC)):
        new = buy(account, key="new", name="New pack")
        refunded = buy(account, key="refunded", name="Refunded pack")
        refund_row = refund(refunded, customer_reason="changed my mind")

    with django_assert_num_queries(9):
        every = list_account_documents(account=account, year=None)
    assert every.years == (2026, 2025)
    assert every.year is None
    assert [row.key for row in every.invoices] == [
        refunded.invoice.number,
        new.invoice.number,
        old.invoice.number,
    ]
    assert [row.key for row in every.credit_notes] == [refund_row.credit_note.number]
    assert every.invoices[0].description == "Refunded pack"
    assert every.invoices[0].status.startswith("Refunded in full")
    assert every.credit_notes[0].status == (
        f"Credits invoice {refunded.invoice.number} (changed my mind)"
    )

    in_2025 = list_account_documents(account=account, year=2025)
    assert [row.key for row in in_2025.invoices] == [old.invoice.number]
    assert in_2025.credit_notes == ()
    assert in_2025.years == (2026, 2025)

    assert list_account_documents(account=account, year=2024).empty


@pytest.mark.time_machine(datetime(2026, 6, 10, 12, tzinfo=UTC))
def test_statements_are_listed_by_the_year_of_their_month():
    account = personal_account()
    pending_overage(account)
    issue_statements(
        period=Period(date(2026, 6, 1)), at=datetime(2026, 7, 1, 3, tzinfo=UTC)
    )

    documents = list_account_documents(account=account, year=2026)

    [row] = documents.statements
    assert (row.kind, row.key, row.title) == ("statement", "2026-06", "June 2026")
    assert (row.opening_display, row.amount_display) == ("$0.00", "$0.18")
    assert list_account_documents(account=account, year=2025).statements == ()
