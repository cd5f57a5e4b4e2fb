"""Browser tests of the billing dashboard: what a signed-in person sees and does.

Each test drives Chromium through the real pages of the live server and
asserts on what is on screen (or, for the chart, on what Chart.js drew),
never on screenshots. Data is set up through factories and billing services;
conftest re-seeds the meters, plan and packs before each test.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing.models import Alert, Meter, UsageSnapshot
from billing.services.consents import give_overage_consent
from billing.services.usage import record_usage_event
from billing.units import GB, period_of
from tests.factories.accounts import CompanyFactory, MembershipFactory, UserFactory
from tests.factories.billing import company_account, meter, personal_account

pytestmark = pytest.mark.django_db(transaction=True)

# Chart.js is loaded with `defer`; wait until it has drawn the canvas.
CHART_READY = (
    "id => !!(window.Chart && document.getElementById(id)"
    " && Chart.getChart(document.getElementById(id)))"
)
CHART_DATA = """id => {
  const chart = Chart.getChart(document.getElementById(id));
  return {
    labels: chart.data.labels,
    used: chart.data.datasets[0].data,
    limit: chart.data.datasets[1].data,
    drawn: chart.getDatasetMeta(0).data.length,
    width: chart.width,
  };
}"""


def _snapshots(account, code, points):
    """One UsageSnapshot per (days ago, used bytes); limit 2 GB, state from use."""
    meter = Meter.objects.get(code=code)
    today = timezone.now().date()
    UsageSnapshot.objects.bulk_create(
        UsageSnapshot(
            account=account,
            meter=meter,
            day=today - timedelta(days=ago),
            used=used,
            limit=2 * GB,
            state="warning" if used >= 1.6 * GB else "ok",
        )
        for ago, used in points
    )


def _no_reload_marker(page):
    page.evaluate("window.__noReload = 1")


def _marker_survived(page) -> bool:
    return page.evaluate("window.__noReload") == 1


def test_buy_a_storage_pack_raises_the_limit_and_shows_the_charge(sign_in):
    account = personal_account(email="buyer@example.com")
    record_usage_event(
        event_id="s1", account=account, meter="storage", quantity=12 * GB // 10
    )
    page = sign_in("buyer@example.com")

    storage = page.locator("#quota-storage")
    expect(storage.get_by_role("heading", name="Storage")).to_be_visible()
    expect(storage).to_contain_text("1.2 GB of 2.0 GB")
    expect(page.locator("#quota-bandwidth")).to_contain_text("0.0 GB of 5.0 GB")
    expect(page.locator("#quota-transcoding")).to_contain_text("0 min of 60 min")

    page.get_by_role("link", name="Buy packs").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Buy packs")
    page.get_by_role("link", name="Buy Storage +50 GB", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your purchase")
    confirm = page.locator("section.confirm")
    expect(confirm.locator(".figure")).to_have_text("$20.00")
    row = confirm.get_by_role("row", name="Storage")
    expect(row).to_contain_text("+50.0 GB")
    expect(row.locator("td").nth(1)).to_have_text("2.0 GB")
    expect(row.locator("td").nth(2)).to_have_text("52.0 GB")

    page.get_by_role("button", name="Confirm and pay $20.00").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Receipt")
    expect(page.get_by_role("status")).to_contain_text("the payment went through")
    expect(page.locator("#quota-storage")).to_contain_text("1.2 GB of 52.0 GB")

    page.get_by_role("link", name="Billing", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing history")
    charge = page.locator("table.ledger tbody tr")
    expect(charge).to_have_count(1)
    expect(charge.locator("td.num")).to_have_text("$20.00")
    expect(charge.locator(".status")).to_have_text("Paid")


def test_consenting_to_overage_turns_an_exceeded_meter_into_overage(sign_in):
    account = personal_account(email="over@example.com")
    record_usage_event(
        event_id="b1", account=account, meter="bandwidth", quantity=6 * GB
    )
    page = sign_in("over@example.com")
    expect(page.locator("#quota-bandwidth .badge")).to_have_text("exceeded")
    expect(page.locator("#quota-bandwidth")).to_contain_text("6.0 GB of 5.0 GB")

    page.get_by_role("link", name="Overage", exact=True).click()
    section = page.locator("#meter-bandwidth")
    expect(section.locator(".badge")).to_have_text("exceeded")
    section.get_by_label("Spending cap (USD)").fill("10")
    expect(section.get_by_label("This billing period only")).to_be_checked()
    section.get_by_role("button", name="Confirm overage").click()

    expect(page.get_by_role("status")).to_contain_text(
        "Overage on Bandwidth confirmed, capped at $10.00."
    )
    section = page.locator("#meter-bandwidth")
    expect(section.locator(".badge")).to_have_text("overage")
    expect(section).to_contain_text("Consent active: up to $10.00")
    expect(section.get_by_role("button", name="Update the cap")).to_be_visible()

    page.get_by_role("link", name="Overview", exact=True).click()
    expect(page.locator("#quota-bandwidth .badge")).to_have_text("overage")


def test_raising_a_cap_asks_about_past_overage_and_moves_focus_to_the_answer(
    sign_in,
):
    """Keyboard only: the card swapped in place takes the focus to what it
    asks (the amount a higher cap bills at once), then to the result."""
    account = personal_account(email="capped@example.com")
    give_overage_consent(
        account=account,
        meter=meter("bandwidth"),
        cap_cents=5,
        recurring=False,
        actor=account.user,
    )
    record_usage_event(
        event_id="b1", account=account, meter="bandwidth", quantity=6 * GB
    )  # 1 GB past the limit under consent: 9c, of which 5c billable
    page = sign_in("capped@example.com")
    page.get_by_role("link", name="Overage", exact=True).click()
    section = page.locator("#meter-bandwidth")
    section.get_by_label("Spending cap (USD)").fill("1.00")
    section.get_by_label("Spending cap (USD)").press("Enter")

    asked = page.locator("#meter-bandwidth .confirm-billable")
    expect(asked).to_contain_text("makes $0.04 of overage already used billable")
    expect(asked).to_be_focused()
    page.keyboard.press("Tab")
    confirm = page.get_by_role("button", name="Confirm: $0.04 more billed")
    expect(confirm).to_be_focused()
    page.keyboard.press("Enter")

    notice = page.locator("#meter-bandwidth .card-notices .message").first
    expect(notice).to_contain_text("confirmed, capped at $1.00")
    expect(notice).to_be_focused()


def test_a_company_member_cannot_buy(sign_in):
    company = CompanyFactory(name="Acme Studio")
    member = MembershipFactory(company=company, user__email="member@example.com")
    account = company.billing_account
    assert member.role == "member"
    page = sign_in("member@example.com")

    page.goto(f"/accounts/{account.pk}/packs/")
    notice = page.locator("#buy-rights")
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text("Only owners and admins of Acme Studio can buy")
    expect(page.locator("#member-notice")).to_have_count(0)  # said once
    cards = page.locator("#pack-list li.pack")
    expect(cards.first).to_be_visible()
    assert cards.count() > 0
    expect(page.locator("#pack-list").get_by_role("link")).to_have_count(0)

    page.goto(f"/accounts/{account.pk}/packs/storage-50gb-once/buy/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your purchase")
    expect(page.get_by_role("button", name="Confirm and pay")).to_have_count(0)
    expect(page.locator("section.confirm .notice")).to_have_text(
        "Only owners and admins of Acme Studio can buy packs."
    )

    page.goto(f"/accounts/{account.pk}/job-slots/")
    expect(page.locator("ul.packs").get_by_role("link")).to_have_count(0)
    expect(page.locator("#member-notice")).to_have_count(1)
    expect(page.locator("ul.packs")).not_to_contain_text("Only owners and admins")


def test_usage_chart_draws_one_point_per_snapshot(sign_in):
    account = personal_account(email="chart@example.com")
    used = [5 * GB // 10, 8 * GB // 10, 12 * GB // 10, 16 * GB // 10]
    _snapshots(account, "storage", zip([4, 3, 2, 1], used, strict=True))
    # Today has no snapshot yet: the last point is the live level.
    record_usage_event(
        event_id="today", account=account, meter="storage", quantity=19 * GB // 10
    )
    today = timezone.now().date()
    page = sign_in("chart@example.com")

    page.get_by_role("link", name="Usage history").click()
    page.wait_for_function(CHART_READY, arg="chart-storage")
    data = page.evaluate(CHART_DATA, "chart-storage")

    assert data["labels"] == [
        *((today - timedelta(days=ago)).isoformat() for ago in [4, 3, 2, 1]),
        "Today, so far",
    ]
    assert data["used"] == [0.5, 0.8, 1.2, 1.6, 1.9]
    assert data["limit"] == [2, 2, 2, 2, 2]
    assert data["drawn"] == 5  # Chart.js made one element per point
    assert data["width"] > 0
    # A meter without snapshots still shows today so far.
    page.wait_for_function(CHART_READY, arg="chart-bandwidth")
    bandwidth = page.evaluate(CHART_DATA, "chart-bandwidth")
    assert bandwidth["labels"] == ["Today, so far"] and bandwidth["used"] == [0]


def test_range_switch_swaps_the_chart_without_a_reload(sign_in):
    account = personal_account(email="range@example.com")
    # One snapshot every 10 days: 3 in the last 30 days, 9 in 90, 18 in 180.
    points = [(ago, (ago % 20 + 1) * GB // 10) for ago in range(0, 180, 10)]
    _snapshots(account, "storage", points[1:])
    # Today's point is the live level, as its snapshot would say.
    record_usage_event(
        event_id="today", account=account, meter="storage", quantity=points[0][1]
    )
    page = sign_in("range@example.com")
    page.get_by_role("link", name="Usage history").click()
    page.wait_for_function(CHART_READY, arg="chart-storage")
    assert page.evaluate(CHART_DATA, "chart-storage")["drawn"] == 3
    _no_reload_marker(page)

    page.get_by_role("link", name="90 days").click()
    page.wait_for_function(
        "id => Chart.getChart(document.getElementById(id))?.data.datasets[0]"
        ".data.length === 9",
        arg="chart-storage",
    )
    assert _marker_survived(page), "the range switch reloaded the page"
    assert page.url.endswith("?range=90")
    expect(page.get_by_role("link", name="90 days")).to_have_attribute(
        "aria-current", "true"
    )
    data = page.evaluate(CHART_DATA, "chart-storage")
    expected = [round(used / GB, 1) for ago, used in reversed(points) if ago < 90]
    assert data["used"] == expected
    assert data["drawn"] == 9

    card = page.locator('article[aria-labelledby="chart-title-storage"]')
    expect(card.get_by_role("heading")).to_contain_text("last 90 days")
    table = card.get_by_role("table")
    expect(table).to_be_hidden()
    card.get_by_text("Show as a table").click()
    expect(table).to_be_visible()
    cells = table.locator("tbody tr td:nth-child(2)")
    expect(cells).to_have_count(9)
    # The table lists the newest day first; the chart runs oldest to newest.
    assert cells.all_inner_texts() == [f"{v:.1f} GB" for v in reversed(expected)]

    # Back restores the 30-day chart, drawn again, still without a reload.
    page.go_back()
    page.wait_for_function(
        "id => Chart.getChart(document.getElementById(id))?.data.datasets[0]"
        ".data.length === 3",
        arg="chart-storage",
    )
    assert not page.url.endswith("?range=90")
    assert _marker_survived(page)


def test_dismissing_an_alert_uses_htmx_and_sticks(sign_in):
    account = personal_account(email="alert@example.com")
    record_usage_event(
        event_id="s-alert", account=account, meter="storage", quantity=17 * GB // 10
    )  # the banner is news only while storage is at 80% or more
    alert = Alert.objects.create(
        account=account,
        meter=Meter.objects.get(code="storage"),
        kind=Alert.Kind.WARNING_80,
        period_start=period_of(timezone.now()).start,
        dedupe_key=f"e2e-{account.pk}-warning-test",
        message="Storage is 85% used (1.7 GB of 2.0 GB).",
    )
    page = sign_in("alert@example.com")
    banner = page.locator(f"#alert-{alert.pk}")
    expect(banner).to_contain_text("Storage is 85% used")
    _no_reload_marker(page)

    banner.get_by_role("button", name="Dismiss").click()
    expect(banner).to_have_count(0)
    assert _marker_survived(page), "dismissing the alert reloaded the page"
    alert.refresh_from_db()
    assert alert.dismissed_at is not None

    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    expect(page.get_by_text("Storage is 85% used")).to_have_count(0)


def test_switching_to_the_company_is_remembered(sign_in):
    user = UserFactory(email="switch@example.com")
    company = company_account(owner=user)
    page = sign_in("switch@example.com")
    expect(page.get_by_role("link", name="Job slots")).to_have_count(0)

    page.get_by_label("Account", exact=True).select_option(
        label=f"{company.name} (company)"
    )
    page.get_by_role("button", name="Switch").click()
    page.wait_for_url(f"**/accounts/{company.pk}/")
    expect(page.locator(".account-head .eyebrow")).to_contain_text(company.name)
    expect(page.get_by_role("link", name="Job slots")).to_be_visible()

    page.goto("/")
    page.wait_for_url(f"**/accounts/{company.pk}/")
    expect(page.get_by_role("link", name="Job slots")).to_be_visible()
    expect(page.get_by_label("Account", exact=True)).to_have_value(str(company.pk))


def test_keyboard_reaches_the_skip_link_then_a_buy_link_with_visible_focus(sign_in):
    account = personal_account(email="keys@example.com")
    page = sign_in("keys@example.com")
    page.goto(f"/accounts/{account.pk}/packs/")

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0, "the focused skip link is off-screen"

    buy = page.get_by_role("link", name="Buy Storage +50 GB", exact=True)
    for _ in range(40):
        page.keyboard.press("Tab")
        if buy.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the Buy link for Storage +50 GB")
    outline = buy.evaluate(
        "el => { const s = getComputedStyle(el);"
        " return {style: s.outlineStyle, width: parseFloat(s.outlineWidth)}; }"
    )
    assert outline["style"] != "none" and outline["width"] > 0, outline

    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your purchase")


def test_overview_fits_a_375px_screen(sign_in, page):
    user = UserFactory(email="a.rather.long.address@example-company.com")
    company_account(owner=user)
    account = user.billing_account
    record_usage_event(event_id="m1", account=account, meter="bandwidth", quantity=GB)
    Alert.objects.create(
        account=account,
        kind=Alert.Kind.EXPIRING_SOON,
        period_start=period_of(timezone.now()).start,
        dedupe_key=f"e2e-{account.pk}-expiring",
        message="Your pack Storage +50 GB (subscription) expires in 7 days.",
    )
    page.set_viewport_size({"width": 375, "height": 812})
    sign_in(user.email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    expect(page.locator("#quota-storage")).to_be_visible()

    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the overview scrolls sideways: {width}px wide"
