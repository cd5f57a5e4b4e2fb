"""Billing documents in the browser: a row opens its receipt, which prints as
the document alone (no site header, tabs or buttons)."""

import pytest
from playwright.sync_api import expect

from billing.models import ChargeRecord
from tests.factories.billing import ChargeRecordFactory, personal_account

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_charge_receipt_opens_from_billing_and_prints_without_the_site(sign_in):
    account = personal_account(email="printer@example.com")
    ChargeRecordFactory(
        account=account,
        amount_cents=1234,
        status=ChargeRecord.Status.PAID,
        description="Goodwill correction",
        gateway_reference="sbx_print_test",
    )
    page = sign_in("printer@example.com")
    page.goto(f"/accounts/{account.pk}/billing/")
    page.get_by_role("link", name="Goodwill correction").click()
    expect(page.get_by_role("heading", name="Receipt", exact=True)).to_be_visible()
    # print.js (loaded with the CSP nonce) shows the button; it prints.
    print_button = page.get_by_role("button", name="Print")
    expect(print_button).to_be_visible()

    page.emulate_media(media="print")

    for chrome in (".topbar", ".tabs", ".footer", ".document-actions"):
        expect(page.locator(chrome)).to_be_hidden()
    expect(print_button).to_be_hidden()
    expect(page.locator(".document-amount")).to_have_text("$12.34")
    expect(page.get_by_text("sbx_print_test")).to_be_visible()
    colour = page.locator(".document-amount").evaluate("e => getComputedStyle(e).color")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert colour == "rgb(0, 0, 0)"
    assert background in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)")
