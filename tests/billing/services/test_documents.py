"""Invoices and credit notes as the sales that issue them write them.

Hand-computed examples: every figure below was worked out on paper from the
net price, the rate of the day and half-up rounding once per line.
"""

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.db import DatabaseError, transaction
from pypdf import PdfReader

from billing.documents import LineIn, quote_charge
from billing.errors import InvalidRequest, PermissionDenied
from billing.models import (
    BillingDetails,
    ChargeRecord,
    CreditNote,
    Invoice,
    InvoiceLine,
    TaxRate,
)
from billing.services.documents import save_billing_details
from billing.services.packs import purchase_pack
from billing.services.refunds import refund_charge
from billing.tax import REVERSE_CHARGE_NOTE
from billing.units import GB, Period
from tests.factories.billing import (
    PackFactory,
    closed_overage_charge,
    company_account,
    owner_of,
    personal_account,
)

pytestmark = pytest.mark.django_db

MARCH_10 = datetime(2026, 3, 10, 12, tzinfo=UTC)


def frozen(instant):
    return time_machine.travel(instant, tick=False)


@pytest.fixture
def rates():
    """Germany 19% (16% from 15 July 2026, mid-month), France 20%, Ireland 23%."""
    for country, rate, start in [
        ("DE", "19", date(2020, 1, 1)),
        ("DE", "16", date(2026, 7, 15)),
        ("FR", "20", date(2020, 1, 1)),
        ("IE", "23", date(2020, 1, 1)),
    ]:
        TaxRate.objects.create(
            country=country, rate_percent=Decimal(rate), valid_from=start
        )


def details(account, *, country="", vat_id="", name="Buyer Ltd"):
    save_billing_details(
        account=account,
        actor=owner_of(account),
        legal_name=name,
        address="1 Main Street\n10115 Berlin",
        country=country,
        vat_id=vat_id,
    )


def buy(account, *, price_cents=2000, key="buy", **pack):
    pack = PackFactory(lines={"storage": 10 * GB}, price_cents=price_cents, **pack)
    return purchase_pack(
        account=account, pack=pack, actor=owner_of(account), idempotency_key=key
    )


def lines_of(invoice):
    return list(
        invoice.lines.values_list(
            "quantity", "unit_net_cents", "net_cents", "tax_rate_percent", "tax_cents"
        )
    )


@frozen(MARCH_10)
def test_without_tax_rates_the_invoice_has_a_zero_rate_line_and_the_net_is_charged():
    account = personal_account()
    result = buy(account, price_cents=2000)

    invoice = result.charge.invoice
    assert invoice.number == "INV-2026-000001"
    assert (invoice.net_cents, invoice.tax_cents, invoice.gross_cents) == (
        2000,
        0,
        2000,
    )
    assert lines_of(invoice) == [(1, 2000, 2000, Decimal("0.00"), 0)]
    assert result.charge.amount_cents == 2000
    assert invoice.issued_at == MARCH_10
    assert (invoice.period_start, invoice.period_end) == (
        date(2026, 3, 10),
        date(2027, 3, 10),  # the 365-day term ends at noon that day
    )


@frozen(MARCH_10)
def test_a_german_consumer_pays_19_percent_on_top_of_the_net_price(rates):
    account = personal_account()
    details(account, country="DE")

    charge = buy(account, price_cents=2000).charge

    invoice = charge.invoice
    assert charge.amount_cents == 2380
    assert (invoice.net_cents, invoice.tax_cents, invoice.gross_cents) == (
        2000,
        380,
        2380,
    )
    assert lines_of(invoice) == [(1, 2000, 2000, Decimal("19.00"), 380)]
    assert (invoice.buyer_name, invoice.buyer_country) == ("Buyer Ltd", "DE")
    assert invoice.seller_country == "IE"
    assert not invoice.reverse_charge and invoice.note == ""


@frozen(MARCH_10)
def test_a_buyer_without_a_country_pays_the_sellers_country_rate(rates):
    charge = buy(personal_account(), price_cents=1000).charge
    assert charge.amount_cents == 1230  # Ireland, 23%
    assert charge.invoice.lines.get().tax_rate_percent == Decimal("23.00")


@frozen(MARCH_10)
def test_a_french_business_is_reverse_charged_with_the_legal_note(rates):
    account = company_account()
    details(account, country="FR", vat_id="FR40303265045", name="Globex SAS")

    charge = buy(account, price_cents=2000).charge

    invoice = charge.invoice
    assert charge.amount_cents == 2000
    assert invoice.reverse_charge
    assert invoice.note == REVERSE_CHARGE_NOTE
    assert invoice.buyer_vat_id == "FR40303265045"
    assert lines_of(invoice) == [(1, 2000, 2000, Decimal("0.00"), 0)]


@frozen(MARCH_10)
def test_a_business_in_the_sellers_own_country_pays_its_vat(rates, settings):
    settings.BILLING_SELLER_COUNTRY = "DE"
    account = company_account()
    details(account, country="DE", vat_id="DE811234567")

    charge = buy(account, price_cents=2000).charge

    assert charge.amount_cents == 2380
    assert not charge.invoice.reverse_charge


def test_the_rate_of_the_invoice_date_applies_when_it_changes_mid_month(rates):
    account = personal_account()
    details(account, country="DE")

    with frozen(datetime(2026, 7, 14, 23, 59, 59, tzinfo=UTC)):
        before = buy(account, price_cents=1250, key="before").charge
    with frozen(datetime(2026, 7, 15, 0, 0, tzinfo=UTC)):
        after = buy(account, price_cents=1250, key="after").charge

    # 1250 x 19% = 237.50 -> 238; 1250 x 16% = 200.
    assert (before.amount_cents, before.invoice.tax_cents) == (1488, 238)
    assert (after.amount_cents, after.invoice.tax_cents) == (1450, 200)
    assert [before.invoice.number, after.invoice.number] == [
        "INV-2026-000001",
        "INV-2026-000002",
    ]


@frozen(MARCH_10)
def test_totals_are_the_sums_of_lines_rounded_one_by_one(rates):
    account = personal_account()
    details(account, country="DE")

    quote = quote_charge(
        account=account,
        lines=[LineIn("A", 1250), LineIn("B", 1050), LineIn("C", 350, quantity=3)],
        at=MARCH_10,
    )

    # 237.50 -> 238, 199.50 -> 200, 1050 x 19% = 199.50 -> 200 (C: 3 x 350).
    assert [q.amounts.tax_cents for q in quote.lines] == [238, 200, 200]
    assert (quote.net_cents, quote.tax_cents, quote.gross_cents) == (3350, 638, 3988)
    # Rounding the total once would give 636.50 -> 637: not what is billed.


@frozen(MARCH_10)
def test_a_declined_payment_gets_no_invoice_and_uses_no_number(settings):
    account = personal_account()
    settings.BILLING_SANDBOX_DECLINE = True
    declined = buy(account, key="declined").charge
    settings.BILLING_SANDBOX_DECLINE = False
    paid = buy(account, key="paid").charge

    assert declined.status == ChargeRecord.Status.FAILED
    assert not Invoice.objects.filter(charge=declined).exists()
    assert paid.invoice.number == "INV-2026-000001"


@frozen(MARCH_10)
def test_a_rolled_back_sale_gives_its_number_back():
    account = personal_account()
    with pytest.raises(RuntimeError), transaction.atomic():
        buy(account, key="rolled-back")
        raise RuntimeError("the request died after the invoice was numbered")

    assert buy(account, key="kept").charge.invoice.number == "INV-2026-000001"


def test_numbers_start_again_each_calendar_year():
    account = personal_account()
    with frozen(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)):
        december = buy(account, key="dec").charge.invoice
    with frozen(datetime(2027, 1, 1, tzinfo=UTC)):
        january = buy(account, key="jan").charge.invoice

    assert (december.number, january.number) == ("INV-2026-000001", "INV-2027-000001")


@frozen(MARCH_10)
def test_a_partial_refund_credits_net_and_tax_in_proportion(rates):
    account = personal_account()
    details(account, country="DE")
    charge = buy(account, price_cents=2000).charge  # 2000 + 380 = 2380

    half = refund_charge(charge=charge, actor=None, amount_cents=1190)
    note = half.credit_note

    assert note.number == "CN-2026-000001"
    assert note.invoice == charge.invoice
    assert (note.net_cents, note.tax_cents, note.gross_cents) == (1000, 190, 1190)
    assert list(note.lines.values_list("net_cents", "tax_cents", "gross_cents")) == [
        (1000, 190, 1190)
    ]
    assert note.buyer_name == "Buyer Ltd"


@frozen(MARCH_10)
def test_an_odd_refund_still_adds_up_to_the_cent(rates):
    account = personal_account()
    details(account, country="DE")
    charge = buy(account, price_cents=2000).charge

    note = refund_charge(charge=charge, actor=None, amount_cents=1000).credit_note

    # 1000 / 1.19 = 840.34 -> 840 net; the tax is the rest.
    assert (note.net_cents, note.tax_cents, note.gross_cents) == (840, 160, 1000)


@frozen(MARCH_10)
def test_a_full_refund_credits_the_whole_invoice_with_the_customer_reason(rates):
    account = personal_account()
    details(account, country="DE")
    charge = buy(account, price_cents=2000).charge

    refund = refund_charge(
        charge=charge, actor=None, customer_reason="Bought by mistake"
    )

    note = refund.credit_note
    assert (note.gross_cents, note.reason) == (2380, "Bought by mistake")
    assert list(note.lines.values_list("quantity", "unit_net_cents")) == [(1, 2000)]


def overage_charge(account, *, at_close):
    """8 GB of bandwidth against the 5 GB allowance, consented: 3 x 9c = 27c."""
    return closed_overage_charge(
        account, period=Period(date(2026, 4, 1)), used_bytes=8 * GB, closed_at=at_close
    )


def test_an_overage_charge_is_invoiced_pending_at_the_close_with_the_rate_then(rates):
    with frozen(datetime(2026, 4, 1, tzinfo=UTC)):
        account = personal_account()
        details(account, country="FR")
    with frozen(datetime(2026, 5, 4, tzinfo=UTC)):
        charge = overage_charge(account, at_close=datetime(2026, 5, 4, tzinfo=UTC))

    invoice = charge.invoice
    assert charge.status == ChargeRecord.Status.PENDING
    # 27c net, 20% = 5.4c -> 5c.
    assert (invoice.net_cents, invoice.tax_cents, charge.amount_cents) == (27, 5, 32)
    assert (invoice.period_start, invoice.period_end) == (
        date(2026, 4, 1),
        date(2026, 4, 30),
    )
    assert invoice.issued_at == datetime(2026, 5, 4, tzinfo=UTC)


def test_voiding_a_pending_charge_credits_its_invoice_in_full(rates):
    with frozen(datetime(2026, 4, 1, tzinfo=UTC)):
        account = personal_account()
    with frozen(datetime(2026, 5, 4, tzinfo=UTC)):
        charge = overage_charge(account, at_close=datetime(2026, 5, 4, tzinfo=UTC))
        voided = refund_charge(charge=charge, actor=None)

    assert voided.status == ChargeRecord.Status.VOID
    note = CreditNote.objects.get(charge=charge)
    assert (note.invoice, note.gross_cents) == (charge.invoice, charge.amount_cents)


@frozen(MARCH_10)
def test_the_database_refuses_to_change_or_delete_an_issued_invoice():
    invoice = buy(personal_account()).charge.invoice

    for attempt in [
        lambda: Invoice.objects.filter(pk=invoice.pk).update(gross_cents=1),
        lambda: Invoice.objects.filter(pk=invoice.pk).update(buyer_name="Someone"),
        lambda: InvoiceLine.objects.filter(invoice=invoice).update(net_cents=1),
        lambda: InvoiceLine.objects.filter(invoice=invoice).delete(),
        lambda: Invoice.objects.filter(pk=invoice.pk).delete(),
    ]:
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()

    invoice.refresh_from_db()
    assert (invoice.gross_cents, invoice.buyer_name) == (2000, invoice.buyer_name)
    # Recording that the e-mail went is the one change allowed, once.
    assert Invoice.objects.filter(pk=invoice.pk).update(emailed_at=MARCH_10) == 1
    with pytest.raises(DatabaseError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(emailed_at=None)


@frozen(MARCH_10)
def test_the_database_refuses_to_change_a_credit_note():
    refund = refund_charge(charge=buy(personal_account()).charge, actor=None)
    note = refund.credit_note

    with pytest.raises(DatabaseError), transaction.atomic():
        CreditNote.objects.filter(pk=note.pk).update(gross_cents=1)
    with pytest.raises(DatabaseError), transaction.atomic():
        CreditNote.objects.filter(pk=note.pk).delete()


@frozen(MARCH_10)
def test_invoices_keep_the_details_they_were_issued_with():
    account = personal_account()
    details(account, country="DE", name="Old Name GmbH")
    first = buy(account, key="first").charge.invoice
    details(account, country="DE", name="New Name GmbH")
    second = buy(account, key="second").charge.invoice

    first.refresh_from_db()
    assert (first.buyer_name, second.buyer_name) == ("Old Name GmbH", "New Name GmbH")


def test_only_owners_and_admins_edit_billing_details():
    account = personal_account()
    stranger = owner_of(personal_account())
    with pytest.raises(PermissionDenied):
        save_billing_details(account=account, actor=stranger, legal_name="Mine now")
    with pytest.raises(InvalidRequest, match="not a VAT id"):
        save_billing_details(
            account=account,
            actor=owner_of(account),
            legal_name="X",
            country="DE",
            vat_id="DE12",
        )
    with pytest.raises(InvalidRequest, match="country code"):
        save_billing_details(
            account=account, actor=owner_of(account), legal_name="X", country="ZZ"
        )
    assert not BillingDetails.objects.filter(account=account).exists()


@frozen(MARCH_10)
def test_the_invoice_is_e_mailed_to_the_owner_as_a_pdf(
    settings, rates, django_capture_on_commit_callbacks, pdf_renderer
):
    settings.BILLING_EMAIL_INVOICES = True
    account = personal_account()
    details(account, country="DE")

    with django_capture_on_commit_callbacks(execute=True):
        charge = buy(account, price_cents=2000).charge

    (message,) = mail.outbox
    assert message.to == [account.user.email]
    assert "INV-2026-000001" in message.subject
    ((filename, content, mimetype),) = message.attachments
    assert (filename, mimetype) == ("INV-2026-000001.pdf", "application/pdf")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    assert "INV-2026-000001" in text
    assert "23.80" in text
    charge.invoice.refresh_from_db()
    assert charge.invoice.emailed_at == MARCH_10


@frozen(MARCH_10)
def test_staff_edits_of_billing_details_need_the_power_and_are_on_record():
    from accounts.models import User
    from billing.errors import MissingPermission
    from billing.models import AuditEntry

    account = company_account()
    viewer = User.objects.create_user(email="viewer@example.com", is_staff=True)
    with pytest.raises(MissingPermission):
        save_billing_details(
            account=account, actor=viewer, legal_name="Hijacked", staff=True
        )

    admin = User.objects.create_superuser(email="admin@example.com", password="x")
    details(account, country="FR", name="Before SAS")
    save_billing_details(
        account=account, actor=admin, legal_name="After SAS", country="FR", staff=True
    )

    entry = AuditEntry.objects.get(action=AuditEntry.Action.BILLING_DETAILS_CHANGED)
    assert (entry.actor, entry.account) == (admin, account)
    assert entry.before["legal_name"] == "Before SAS"
    assert entry.after["legal_name"] == "After SAS"


def test_a_later_number_is_never_dated_earlier():
    account = personal_account()
    with frozen(MARCH_10):
        first = buy(account, key="first").charge.invoice
    # A sale that began earlier (a slow gateway, a back-dated import) is
    # numbered after: it is dated with the invoice before it, not before.
    with frozen(datetime(2026, 3, 9, tzinfo=UTC)):
        second = buy(account, key="second").charge.invoice
    with frozen(datetime(2026, 3, 11, tzinfo=UTC)):
        third = buy(account, key="third").charge.invoice

    assert [first.number, second.number, third.number] == [
        "INV-2026-000001",
        "INV-2026-000002",
        "INV-2026-000003",
    ]
    assert [first.issued_at, second.issued_at, third.issued_at] == [
        MARCH_10,
        MARCH_10,
        datetime(2026, 3, 11, tzinfo=UTC),
    ]


def test_a_months_overage_is_taxed_at_the_rate_of_its_close(rates):
    """July's overage is invoiced when July closes (4 August): at 16%, though
    half of July was still at 19%."""
    with frozen(datetime(2026, 7, 1, tzinfo=UTC)):
        account = personal_account()
        details(account, country="DE")
    closed = datetime(2026, 8, 4, tzinfo=UTC)
    with frozen(closed):
        charge = closed_overage_charge(
            account,
            period=Period(date(2026, 7, 1)),
            used_bytes=8 * GB,
            closed_at=closed,
        )

    # 3 GB x 9c = 27c net; 27 x 16% = 4.32 -> 4c.
    assert (charge.invoice.net_cents, charge.invoice.tax_cents) == (27, 4)
    assert charge.amount_cents == 31
