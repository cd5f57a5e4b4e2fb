"""Staff analytics pages: access, numbers on the page, CSV, query pins."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from billing.models import Pack, UsageSnapshot
from billing.services.rollups import refresh_usage_rollups
from billing.services.snapshots import take_usage_snapshots
from billing.services.usage import record_usage_event
from billing.units import GB
from tests.factories.accounts import StaffUserFactory, UserFactory
from tests.factories.billing import ChargeRecordFactory, meter, personal_account

pytestmark = pytest.mark.django_db

PAGES = [
    "dashboard:staff-revenue",
    "dashboard:staff-packs",
    "dashboard:staff-usage",
    "dashboard:staff-balances",
]


@pytest.fixture
def staff(client):
    user = StaffUserFactory(perms=["billing.view_analytics"])
    client.force_login(user)
    return user


@pytest.mark.parametrize("name", [*PAGES, "dashboard:staff-home"])
def test_non_staff_get_404_and_anonymous_are_sent_to_sign_in(client, name):
    url = reverse(name)
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous.url.startswith(reverse("dashboard:login"))
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404
    assert client.get(url, {"format": "csv"}).status_code == 404


@pytest.mark.parametrize("name", [*PAGES, "dashboard:staff-home"])
def test_staff_without_view_analytics_get_403_naming_it(client, name):
    client.force_login(StaffUserFactory(perms=["billing.refund_charge"]))
    page = client.get(reverse(name))
    csv_export = client.get(reverse(name), {"format": "csv"})
    assert page.status_code == csv_export.status_code == 403
    assert "billing.view_analytics" in page.content.decode()
    assert not csv_export["Content-Type"].startswith("text/csv")


def test_the_analytics_link_shows_only_with_view_analytics(client, staff):
    link = reverse("dashboard:staff-revenue")
    assert link in client.get(reverse("dashboard:store-themes")).content.decode()
    client.force_login(StaffUserFactory())
    assert link not in client.get(reverse("dashboard:store-themes")).content.decode()


def _history(accounts=3, days=40):
    """Snapshots of the days before today, and usage today (live only)."""
    today = timezone.now().date()
    for n in range(accounts):
        account = personal_account()
        UsageSnapshot.objects.bulk_create(
            UsageSnapshot(
                account=account,
                meter=meter("bandwidth"),
                day=today - timedelta(days=d),
                used=(n + 1) * GB,
                limit=5 * GB,
                state="ok",
            )
            for d in range(1, days + 1)
        )
        for code in ("bandwidth", "storage", "transcoding"):
            record_usage_event(
                event_id=f"{code}-{account.pk}",
                account=account,
                meter=code,
                quantity=(n + 1) * (GB if code != "transcoding" else 60),
            )
        ChargeRecordFactory.create_batch(
            3, account=account, kind="overage", amount_cents=100, status="pending"
        )
    refresh_usage_rollups(start=today - timedelta(days=days), end=today)


# The usage page reads today live: quota_statuses' nine queries for up to
# LIVE_CHUNK accounts with usage, beside the rollups.
MAX_QUERIES = {"dashboard:staff-usage": 18}


@pytest.mark.parametrize("name", PAGES)
def test_pages_render_with_a_constant_number_of_queries(
    client, staff, name, django_assert_max_num_queries
):
    most = MAX_QUERIES.get(name, 14)
    _history(accounts=2, days=10)
    with django_assert_max_num_queries(most):
        assert client.get(reverse(name)).status_code == 200
    _history(accounts=8, days=40)
    with django_assert_max_num_queries(most):
        response = client.get(reverse(name))
    assert response.status_code == 200
    assert reverse("admin:index") in response.content.decode()


def test_revenue_page_shows_totals_and_the_chart_data(client, staff):
    account = personal_account()
    ChargeRecordFactory(
        account=account, kind="capacity_pack", amount_cents=2000, status="paid"
    )
    ChargeRecordFactory(
        account=account, kind="overage", amount_cents=150, status="failed"
    )
    page = client.get(reverse("dashboard:staff-revenue")).content.decode()
    assert 'id="revenue-total">$20.00<' in page
    assert 'id="revenue-data"' in page and '"Capacity pack"' in page


def test_the_range_form_swaps_the_report_with_htmx_and_validates(client, staff):
    today = timezone.now().date()
    url = reverse("dashboard:staff-revenue")
    partial = client.get(
        url,
        {"start": today - timedelta(days=6), "end": today, "grain": "day"},
        headers={"HX-Request": "true"},
    ).content.decode()
    assert "<html" not in partial and 'id="report"' in partial
    assert partial.count('<tr><th scope="row">') == 7 + 1  # days and the total
    bad = client.get(url, {"start": today, "end": today - timedelta(days=3)})
    assert bad.status_code == 422
    assert "start date is after the end date" in bad.content.decode()
    swapped = client.get(
        url,
        {"start": today, "end": today - timedelta(days=3)},
        headers={"HX-Request": "true"},
    )
    assert swapped.status_code == 200  # htmx only swaps 2xx
    body = swapped.content.decode()
    assert body.lstrip().startswith('<section id="report"')
    assert "start date is after the end date" in body


def _csv_rows(response):
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.mark.time_machine(datetime(2026, 4, 16, 12, tzinfo=UTC))
def test_every_table_exports_as_csv_for_the_range(client, staff):
    _history(accounts=2, days=5)
    today = timezone.now().date()
    params = {"start": today - timedelta(days=2), "end": today, "format": "csv"}
    revenue = _csv_rows(client.get(reverse("dashboard:staff-revenue"), params))
    assert revenue[0][0] == "bucket" and len(revenue) == 1 + 3
    assert revenue[-1][-1] == "600"  # today's six pending overage charges
    packs = _csv_rows(client.get(reverse("dashboard:staff-packs"), params))
    assert packs[0][:3] == ["pack", "kind", "units"]
    assert {row[0] for row in packs[1:]} >= {"storage-50gb-once", "slots-100-sub"}
    usage_url = reverse("dashboard:staff-usage")
    daily = _csv_rows(client.get(usage_url, params))
    # Two snapshot days of bandwidth, and today so far for every meter.
    assert [row[:3] + row[-1:] for row in daily[1:]] == [
        ["storage", "byte", "2026-04-16", "live"],
        ["bandwidth", "byte", "2026-04-14", "snapshot"],
        ["bandwidth", "byte", "2026-04-15", "snapshot"],
        ["bandwidth", "byte", "2026-04-16", "live"],
        ["transcoding", "second", "2026-04-16", "live"],
    ]
    bands = _csv_rows(client.get(usage_url, {**params, "table": "bands"}))
    assert bands[0][2] == "under_50"
    top = _csv_rows(client.get(usage_url, {**params, "table": "top"}))
    bandwidth = [row for row in top[1:] if row[0] == "bandwidth"]
    assert [row[4] for row in bandwidth] == [str(2 * GB), str(GB)]
    assert {(row[-2], row[-1]) for row in top[1:]} == {("2026-04-16", "live")}
    balances = _csv_rows(client.get(reverse("dashboard:staff-balances"), params))
    assert len(balances) == 1 + 2 and balances[1][3] == "300"


DEC_2 = datetime(2026, 12, 2, 10, 42, tzinfo=UTC)


def _over_today():
    """Two accounts under 5 GB of bandwidth at last night's snapshot (1 Dec);
    this morning one of them went to 6 GB."""
    with time_machine.travel(datetime(2026, 11, 20, tzinfo=UTC)):
        calm, heavy = (
            personal_account(name="Cal Calm"),
            personal_account(name="Hank Heavy"),
        )
    for account in (calm, heavy):
        record_usage_event(
            event_id=f"dec1-{account.pk}", account=account, meter="bandwidth",
            quantity=2 * GB, timestamp=datetime(2026, 12, 1, 9, tzinfo=UTC),
        )  # fmt: skip
    take_usage_snapshots(
        day=date(2026, 12, 1), at=datetime(2026, 12, 2, 0, 5, tzinfo=UTC)
    )
    record_usage_event(
        event_id="dec2", account=heavy, meter="bandwidth", quantity=4 * GB,
        timestamp=datetime(2026, 12, 2, 9, 30, tzinfo=UTC),
    )  # fmt: skip
    return calm, heavy


@pytest.mark.time_machine(DEC_2)
def test_usage_page_shows_an_account_over_its_limit_today(client, staff):
    _over_today()
    page = client.get(reverse("dashboard:staff-usage")).content.decode()
    assert (
        "Days to 1 Dec from the daily snapshots; today (2 Dec) so far from the live"
        " counters and storage levels, as of 10:42 UTC." in page
    )
    bandwidth = page[
        page.index('id="usage-bandwidth"') : page.index("usage-transcoding")
    ]
    assert "Top consumers (today so far, live)" in bandwidth
    assert bandwidth.index("Hank Heavy") < bandwidth.index("Cal Calm")
    assert '<td class="num">6.0 GB</td><td class="num">5.0 GB</td>' in bandwidth
    assert 'state-exceeded">exceeded<' in bandwidth
    assert '<th scope="row">Over, no consent</th><td class="num">1</td>' in bandwidth
    assert "2 Dec 2026 (today so far, live)" in bandwidth


@pytest.mark.time_machine(DEC_2)
def test_usage_csv_includes_today_so_far(client, staff):
    _over_today()
    url = reverse("dashboard:staff-usage")
    params = {"start": "2026-11-30", "end": "2026-12-02", "format": "csv"}
    daily = _csv_rows(client.get(url, params))
    assert ["bandwidth", "byte", "2026-12-01", "2", str(4 * GB), "snapshot"] in daily
    # Today counts the staff user's own account too (opened today, idle).
    assert ["bandwidth", "byte", "2026-12-02", "3", str(8 * GB), "live"] in daily
    bands = {
        (row[0], row[1]): row
        for row in _csv_rows(client.get(url, {**params, "table": "bands"}))[1:]
    }
    today = bands[("bandwidth", "2026-12-02")]
    assert today[-3:] == ["1", "", "live"]  # 1 over, no consent; unbilled: none yet
    assert bands[("bandwidth", "2026-12-01")][-3:] == ["0", "0", "snapshot"]
    top = _csv_rows(client.get(url, {**params, "table": "top"}))
    assert top[0][-2:] == ["day", "source"]
    assert [row[3:] for row in top[1:] if row[0] == "bandwidth"] == [
        ["Hank Heavy", str(6 * GB), str(5 * GB), "exceeded", "2026-12-02", "live"],
        ["Cal Calm", str(2 * GB), str(5 * GB), "ok", "2026-12-02", "live"],
    ]


@pytest.mark.time_machine(DEC_2)
def test_usage_page_names_finished_days_still_without_a_snapshot(client, staff):
    _over_today()
    page = client.get(
        reverse("dashboard:staff-usage"), {"start": "2026-11-01", "end": "2026-12-05"}
    ).content.decode()
    assert "Days to 1 Dec from the daily snapshots; today (2 Dec)" in page
    with time_machine.travel(datetime(2026, 12, 4, 8, tzinfo=UTC)):
        page = client.get(reverse("dashboard:staff-usage")).content.decode()
    assert "no snapshot taken yet for 2 Dec – 3 Dec; today (4 Dec)" in page
    past = client.get(
        reverse("dashboard:staff-usage"), {"start": "2026-11-01", "end": "2026-11-30"}
    ).content.decode()
    assert "No daily snapshots in this range; no snapshot taken yet for 1 Nov" in past
    assert "live counters" not in past


def test_balances_link_each_account_to_django_admin(client, staff):
    account = personal_account()
    ChargeRecordFactory(account=account, amount_cents=700, status="pending")
    page = client.get(reverse("dashboard:staff-balances")).content.decode()
    assert reverse("admin:billing_account_change", args=[account.pk]) in page
    assert 'id="outstanding-total">$7.00<' in page


def test_admin_links_to_the_analytics(client, staff):
    staff.is_superuser = True
    staff.save()
    page = client.get(reverse("admin:index")).content.decode()
    assert reverse("dashboard:staff-revenue") in page


def test_admin_hides_the_analytics_link_without_view_analytics(client):
    client.force_login(StaffUserFactory(perms=["billing.view_auditentry"]))
    page = client.get(reverse("admin:index"))
    assert page.status_code == 200
    assert reverse("dashboard:staff-revenue") not in page.content.decode()


def test_a_pack_created_in_admin_is_in_the_user_catalogue(client, staff):
    staff.is_superuser = True
    staff.save()
    response = client.post(
        reverse("admin:billing_pack_add"),
        {
            "code": "transcoding-2000min-once",
            "name": "Transcoding +2000 min",
            "description": "",
            "category": "capacity",
            "kind": "one_time",
            "price_cents": "3900",
            "term_days": "365",
            "is_active": "on",
            "allowances-TOTAL_FORMS": "1",
            "allowances-INITIAL_FORMS": "0",
            "allowances-MIN_NUM_FORMS": "0",
            "allowances-MAX_NUM_FORMS": "1000",
            "allowances-0-meter": str(meter("transcoding").pk),
            "allowances-0-amount": str(2000 * 60),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Pack.objects.filter(code="transcoding-2000min-once").exists()
    buyer = personal_account()
    client.force_login(buyer.user)
    page = client.get(
        reverse("dashboard:user-packs", args=[buyer.pk]), {"meter": "transcoding"}
    ).content.decode()
    assert "Transcoding +2000 min" in page and "$39.00" in page
