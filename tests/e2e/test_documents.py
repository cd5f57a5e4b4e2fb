"""Documents in the browser: a Billing row opens its invoice, whose PDF
downloads with the same number and total."""

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from playwright.sync_api import expect
from pypdf import PdfReader

from billing.models import TaxRate
from billing.services.documents import save_billing_details
from billing.services.packs import purchase_pack
from billing.units import GB
from tests.factories.accounts import UserFactory
from tests.factories.billing import PackFactory, company_account

pytestmark = pytest.mark.django_db(transaction=True)

# The sale is made at a pinned instant (the server then runs on the real
# clock, which only reads what was written).
SOLD_AT = datetime(2026, 6, 10, 12, tzinfo=UTC)


def test_an_owner_opens_an_invoice_from_billing_and_downloads_its_pdf(
    sign_in, tmp_path
):
    owner = UserFactory(email="owner-docs@example.com")
    with time_machine.travel(SOLD_AT, tick=False):
        account = company_account(owner=owner)
        TaxRate.objects.create(
            country="DE", rate_percent=Decimal(19), valid_from=date(2020, 1, 1)
        )
        save_billing_details(
            account=account,
            actor=owner,
            legal_name="Acme GmbH",
            address="Friedrichstraße 12\n10117 Berlin",
            country="DE",
        )
        pack = PackFactory(
            name="Storage +10 GB", lines={"storage": 10 * GB}, price_cents=2000
        )
        charge = purchase_pack(
            account=account, pack=pack, actor=owner, idempotency_key="e2e-docs"
        ).charge
    number = charge.invoice.number

    page = sign_in("owner-docs@example.com")
    page.goto(f"/accounts/{account.pk}/billing/")
    page.get_by_role("link", name=f"Invoice {number}").click()

    expect(page.get_by_role("heading", name="Invoice", exact=True)).to_be_visible()
    expect(page.locator(".doc-number")).to_have_text(number)
    expect(page.locator(".doc-total .num")).to_have_text("$23.80")
    expect(page.get_by_text("Acme GmbH")).to_be_visible()
    # print.js (loaded with the CSP nonce) shows the Print button.
    expect(page.get_by_role("button", name="Print")).to_be_visible()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename == f"{number}.pdf"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)

    reader = PdfReader(io.BytesIO(saved.read_bytes()))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert number in text
    assert "$23.80" in text

    # On paper the toolbar goes; the document stays.
    page.emulate_media(media="print")
    expect(page.locator(".doc-toolbar")).to_be_hidden()
    expect(page.locator(".doc-number")).to_be_visible()
