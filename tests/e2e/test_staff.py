"""The staff revenue page in a real browser: the chart carries the ledger's numbers."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import ChargeRecordFactory, personal_account

pytestmark = pytest.mark.django_db(transaction=True)

CHART = """id => {
  const chart = Chart.getChart(document.getElementById(id));
  return {
    labels: chart.data.labels,
    sets: Object.fromEntries(chart.data.datasets.map(d => [d.label, d.data])),
  };
}"""


def test_revenue_chart_shows_each_kind_per_day_and_refunds_below_zero(sign_in):
    staff = StaffUserFactory(
        email="staff-e2e@example.com", perms=["billing.view_analytics"]
    )
    account = personal_account()
    today = timezone.now()
    yesterday = today - timedelta(days=1)
    pack = ChargeRecordFactory(
        account=account, kind="capacity_pack", amount_cents=2000, status="paid",
        created_at=yesterday,
    )  # fmt: skip
    ChargeRecordFactory(
        account=account, kind="overage", amount_cents=345, created_at=today
    )
    ChargeRecordFactory(
        account=account, kind="overage", amount_cents=999, status="failed",
        created_at=today,
    )  # fmt: skip
    ChargeRecordFactory(
        account=account, kind="refund", amount_cents=-2000, status="paid",
        refund_of=pack, created_at=today,
    )  # fmt: skip

    page = sign_in(staff.email)
    page.get_by_role("link", name="Analytics").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Revenue")
    page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.getElementById('revenue-chart'))"
    )
    data = page.evaluate(CHART, "revenue-chart")

    assert len(data["labels"]) == 30
    assert data["labels"][-1] == today.date().isoformat()
    assert data["sets"]["Capacity pack"][-2:] == [20, 0]
    assert data["sets"]["Overage"][-1] == 3.45  # the failed charge is not revenue
    assert data["sets"]["Refund"][-1] == -20
    expect(page.locator("#revenue-total")).to_have_text("$3.45")

    # A shorter range swaps the report in place.
    page.evaluate("window.__noReload = 1")
    page.get_by_label("From").fill(yesterday.date().isoformat())
    page.get_by_role("button", name="Show").click()
    page.wait_for_function(
        "() => { const c = Chart.getChart(document.getElementById('revenue-chart'));"
        " return c && c.data.labels.length === 2; }"
    )
    assert page.evaluate("window.__noReload") == 1
    assert "start=" in page.url
