"""Issued documents in the admin: invoices, credit notes and statements are
read-only facts, shown to staff with the view permission.
"""

from datetime import date

import pytest
import time_machine

from billing.documents import LineIn, quote_charge
from billing.models import (
    CreditNote,
    Invoice,
    Statement,
)
from billing.services.documents import issue_invoice
from billing.services.refunds import refund_charge
from billing.services.statements import issue_statements
from billing.units import parse_period
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import (
    ChargeRecordFactory,
    PlatformAccountFactory,
    personal_account,
)

from .helpers import (
    DEC_2,
    NOV_5,
    NOV_10,
    storage_charge,
    url,
)

pytestmark = pytest.mark.django_db


VIEW_DOCUMENTS = [
    "billing.view_invoice",
    "billing.view_creditnote",
    "billing.view_statement",
]


@pytest.fixture
def documents():
    """An invoice, its partial refund's credit note and November's statement."""
    with time_machine.travel(NOV_5, tick=False):
        account = personal_account(name="Carla Customer")
    charge = storage_charge(account)
    with time_machine.travel(NOV_10, tick=False):
        refund_charge(charge=charge, actor=None, amount_cents=400)
    issue_statements(period=parse_period("2026-11"), at=DEC_2)
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
        charge = ChargeRecordFactory(account=platform, amount_cents=700, status="paid")
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
    my_invoice = storage_charge(mine, key="mine").invoice

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
        charge = storage_charge(account, key=f"k{i}")
        with time_machine.travel(NOV_10, tick=False):
            refund_charge(charge=charge, actor=None, amount_cents=100)
    issue_statements(period=parse_period("2026-11"), at=DEC_2)
    assert model.objects.count() == 6

    with django_assert_max_num_queries(10):
        response = reader.get(url(model, "changelist"))
    assert response.status_code == 200
