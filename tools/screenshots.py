"""Save PNGs of the main dashboard pages, desktop and 375 px wide.

Usage: python tools/screenshots.py BASE_URL OUT_DIR
Signs in with the demo logins of ``seed_demo`` (password ``demo``) through the
real form in Debian's Chromium. ``make screenshots`` runs it against a fresh
demo database.
"""

import re
import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTHS = {"desktop": 1280, "mobile": 375}
# (login, file name, path under the account; "company:" = their company's,
# and optionally a link on that page to follow: documents have numbers that
# only the demo data decides)
FIRST_INVOICE = "#invoices-title ~ .table-wrap tbody a.mono"
SHOTS = [
    ("overage@example.com", "overview", ""),
    ("warning@example.com", "usage", "usage/?range=90"),
    ("ok@example.com", "packs", "packs/"),
    ("ok@example.com", "confirm", "packs/storage-50gb-once/buy/"),
    ("exceeded@example.com", "overage", "overage/"),
    ("overage@example.com", "billing", "billing/"),
    ("overage@example.com", "pay", "billing/pay/"),
    ("overage@example.com", "revoke-consent", "overage/bandwidth/revoke/"),
    ("globex-owner@example.com", "purchases", "company:purchases/"),
    ("owner@example.com", "job-slots", "company:job-slots/"),
    ("globex-owner@example.com", "documents", "company:documents/"),
    # Globex is in France with a VAT id: its invoices are reverse-charged.
    ("globex-owner@example.com", "invoice", "company:documents/", FIRST_INVOICE),
    (
        "warning@example.com",
        "credit-note",
        "documents/",
        "#credit-notes-title ~ .table-wrap tbody a.mono",
    ),
    (
        "globex-owner@example.com",
        "statement",
        "company:documents/",
        "#statements-title ~ .table-wrap tbody a",
    ),
    ("owner@example.com", "billing-details", "company:billing/details/"),
]


def sign_in(page: Page, email: str) -> str:
    """Sign in and return the URL of the account the dashboard lands on."""
    page.goto("/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/accounts/\d+/$"))
    return page.url


def company_url(page: Page, base: str) -> str:
    """The first company account in the switcher (for company-only pages)."""
    option = page.locator("#account-switch option", has_text="(company)").first
    return f"{base}/accounts/{option.get_attribute('value')}/"


def main(base_url: str, out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for label, width in WIDTHS.items():
            for email, name, path, *follow in SHOTS:
                context = browser.new_context(
                    base_url=base_url, viewport={"width": width, "height": 900}
                )
                context.set_default_timeout(60_000)  # a busy machine is slow
                page = context.new_page()
                account_url = sign_in(page, email)
                if path.startswith("company:"):
                    account_url = company_url(page, base_url.rstrip("/"))
                    path = path.removeprefix("company:")
                page.goto(account_url + path)
                if follow:
                    page.locator(follow[0]).first.click()
                    page.wait_for_url(re.compile(r"/documents/[a-z-]+/[^/]+/$"))
                page.wait_for_load_state("networkidle")
                target = out / f"{name}-{label}.png"
                page.screenshot(path=str(target), full_page=True)
                print(target)
                context.close()
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:3])
