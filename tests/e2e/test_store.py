"""The store in a real browser: submit, read the report, fix, then buy and apply."""

import pytest
from playwright.sync_api import expect

from billing.models import ChargeRecord
from store.models import Sale, Theme
from store.services.themes import approve_theme
from tests.factories.accounts import UserFactory
from tests.factories.store import GOOD_CSS

pytestmark = pytest.mark.django_db(transaction=True)


def test_submit_read_the_report_fix_and_buy_an_approved_theme(page, sign_in):
    creator = UserFactory(email="maker@example.com", name="Mara Maker")
    buyer = UserFactory(email="buyer@example.com")

    sign_in(creator.email)
    page.goto("/store/submit/")
    page.get_by_label("Name").fill("Harbour Lights")
    page.get_by_label("Price (USD)").fill("7.50")
    page.get_by_label("Stylesheet").fill("@import url(remote.css);\n" + GOOD_CSS)
    page.get_by_label("Muted text").fill("#aaaaaa")
    page.get_by_role("button", name="Submit for checks").click()

    report = page.locator("#theme-report")
    assert "Checks failed" in report.locator("#state-title").inner_text()
    muted = page.locator("#check-contrast_muted")
    assert "Fail" in muted.text_content()
    assert "at least 4.5:1" in muted.text_content()
    assert "How to fix" in report.inner_text()
    assert "Fail" in page.locator("#check-no_import").text_content()

    # Fix both failures and save: htmx swaps the report in place.
    page.get_by_label("Stylesheet").fill(GOOD_CSS)
    page.get_by_label("Muted text").fill("#55606e")
    page.get_by_role("button", name="Save and re-run the checks").click()
    page.locator("#state-title", has_text="In review").wait_for()
    assert "Fail" not in page.locator("#check-contrast_muted").text_content()

    theme = Theme.objects.get(name="Harbour Lights")
    approve_theme(theme=theme, actor=None)

    page.get_by_role("button", name="Sign out").click()
    sign_in(buyer.email)
    page.goto("/store/")
    page.get_by_role("link", name="Harbour Lights").click()
    # The preview loads in its own frame after the page: wait for it.
    expect(
        page.frame_locator(".preview-frame").get_by_role("heading", name="Overview")
    ).to_be_visible()
    # Buy is a plain link to the confirmation page: nothing is charged yet.
    page.get_by_role("link", name="Buy for $7.50").click()
    page.get_by_role("heading", name="Confirm your purchase").wait_for()
    assert not ChargeRecord.objects.exists()
    page.get_by_role("button", name="Confirm and pay $7.50").click()
    # Wait for the receipt: the click does not wait for it.
    page.locator(".message", has_text="Harbour Lights is yours").wait_for()
    receipt = page.url
    sale = Sale.objects.get(theme=theme)
    assert receipt.endswith(f"/store/receipts/{sale.pk}/")

    # Back to the confirmation page: it no longer offers to buy.
    page.go_back()
    page.get_by_text("You already own Harbour Lights").wait_for()
    page.get_by_role("link", name="See its receipt").click()
    page.wait_for_url(receipt)
    assert ChargeRecord.objects.filter(status="paid").count() == 1

    page.get_by_role("button", name="Apply Harbour Lights to my dashboard").click()
    page.locator(".messages", has_text="is applied").wait_for()
    stylesheet = page.locator(f'link[href^="/store/themes/{theme.pk}/theme.css"]')
    assert stylesheet.count() == 1
