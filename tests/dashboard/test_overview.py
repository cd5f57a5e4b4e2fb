"""Overview cards, alerts, the account switcher, usage history and query pins."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import Alert, Pack, UsageSnapshot
from billing.services.packs import purchase_pack, renew_purchase
from billing.services.refunds import refund_charge
from billing.services.usage import record_usage_event
from billing.units import GB, period_of
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import (
    JobSlotFactory,
    PackFactory,
    company_account,
    ending_soon,
    meter,
    owner_of,
)

pytestmark = pytest.mark.django_db


def overview_url(account):
    return reverse("dashboard:user-overview", args=[account.pk])


def test_cards_show_used_limit_percent_state_remaining_and_reset(client, me):
    level = 17 * GB // 10
    record_usage_event(event_id="s", account=me, meter="storage", quantity=level)
    page = client.get(overview_url(me)).content.decode()
    assert "1.7 GB</strong> of 2.0 GB · 85.0%" in page
    assert "0.3 GB left" in page
    assert "state-warning" in page and "Over 80% used" in page
    assert "60 min left · resets" in page  # transcoding, untouched


def test_company_overview_has_a_job_slot_card(client, my_company):
    JobSlotFactory.create_batch(2, account=my_company)
    page = client.get(overview_url(my_company)).content.decode()
    assert "2 slots</strong> of 2 slots" in page
    assert "Every job slot is in use" in page
    assert reverse("dashboard:company-job-slots", args=[my_company.pk]) in page


def test_full_job_slots_read_the_same_on_every_page(client, my_company):
    JobSlotFactory.create_batch(2, account=my_company)
    overview = client.get(overview_url(my_company)).content.decode()
    slots = client.get(
        reverse("dashboard:company-job-slots", args=[my_company.pk])
    ).content.decode()
    card = overview.split('id="quota-job_slots"')[1].split("</li>")[0]
    assert 'state-exceeded">full<' in card
    assert ">exceeded<" not in card
    assert 'state-exceeded">full<' in slots
    # The same advice, and it says where to act.
    advice = "Close a posting on the jobs site to free its slot"
    assert advice in card and advice in slots
    assert "close a posting." not in overview + slots


def _alert(account, **kwargs):
    return Alert.objects.create(
        account=account,
        kind=kwargs.get("kind", Alert.Kind.WARNING_80),
        period_start=kwargs.get("period_start", period_of(timezone.now()).start),
        dedupe_key=f"a-{account.pk}-{kwargs.get('kind', 'w')}-{Alert.objects.count()}",
        message=kwargs.get("message", "Storage is at 85% of its limit."),
    )


@pytest.mark.time_machine(datetime(2026, 4, 16, 12, tzinfo=UTC))
def test_a_state_alert_shows_only_while_the_meter_is_in_that_state(client, me):
    Alert.objects.create(
        account=me,
        meter=meter("bandwidth"),
        kind=Alert.Kind.EXCEEDED,
        period_start=period_of(timezone.now()).start,
        dedupe_key="exceeded-bw",
        message="Bandwidth has reached its limit.",
    )
    page = client.get(overview_url(me)).content.decode()
    assert "Bandwidth has reached its limit." not in page  # 0 of 5 GB now
    record_usage_event(event_id="bw", account=me, meter="bandwidth", quantity=6 * GB)
    page = client.get(overview_url(me)).content.decode()
    assert "Bandwidth has reached its limit." in page


@pytest.mark.time_machine(datetime(2026, 4, 16, 12, tzinfo=UTC))
def test_alerts_are_shown_and_dismissed_for_good(client, me):
    alert = _alert(me)
    assert "Storage is at 85%" in client.get(overview_url(me)).content.decode()
    url = reverse("dashboard:user-dismiss-alert", args=[me.pk, alert.pk])
    response = client.post(url, headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.content == b""
    assert "Storage is at 85%" not in client.get(overview_url(me)).content.decode()
    alert.refresh_from_db()
    assert alert.dismissed_at is not None


def test_dismissing_without_javascript_redirects_back(client, me):
    alert = _alert(me)
    url = reverse("dashboard:user-dismiss-alert", args=[me.pk, alert.pk])
    assert client.post(url).url == overview_url(me)


def test_last_periods_state_alerts_are_not_shown(client, me):
    _alert(me, period_start=period_of(timezone.now()).previous().start)
    assert "Storage is at 85%" not in client.get(overview_url(me)).content.decode()


def test_switching_account_persists_in_the_session(client, me, my_company):
    response = client.post(
        reverse("dashboard:user-switch"),
        {"account": my_company.pk, "page": "user-billing"},
    )
    assert response.url == reverse("dashboard:user-billing", args=[my_company.pk])
    assert client.get(reverse("dashboard:home")).url == overview_url(my_company)


def test_switching_keeps_the_page_where_it_exists(client, me, my_company):
    response = client.post(
        reverse("dashboard:user-switch"),
        {"account": me.pk, "page": "company-job-slots"},
    )
    assert response.url == overview_url(me)  # personal accounts have no job slots


def test_switching_to_a_stranger_account_is_a_404(client, me):
    stranger = company_account()
    response = client.post(reverse("dashboard:user-switch"), {"account": stranger.pk})
    assert response.status_code == 404
    response = client.post(reverse("dashboard:user-switch"), {"account": "x"})
    assert response.status_code == 404
    assert client.get(reverse("dashboard:home")).url == overview_url(me)


def _snapshots(account, days):
    today = timezone.now().date()
    storage = meter("storage")
    UsageSnapshot.objects.bulk_create(
        [
            UsageSnapshot(
                account=account,
                meter=storage,
                day=today - timedelta(days=n),
                used=n * GB // 10,
                limit=2 * GB,
                state="ok",
            )
            for n in range(days)
        ]
    )


@pytest.mark.time_machine(datetime(2026, 4, 16, 12, tzinfo=UTC))
def storage_rows(page: str) -> int:
    """Rows of the storage table behind the chart's toggle."""
    table = page.split('id="chart-title-storage"')[1].split("</table>")[0]
    return table.count("<tr><td>")


def test_usage_history_reads_snapshots_for_the_range(client, me):
    _snapshots(me, 200)
    url = reverse("dashboard:user-usage", args=[me.pk])
    page = client.get(url, {"range": 90}).content.decode()
    # 89 finished days and today so far.
    assert storage_rows(page) == 90
    assert 'id="series-storage"' in page
    partial = client.get(url, {"range": 180}, headers={"HX-Request": "true"})
    body = partial.content.decode()
    assert "<html" not in body and 'id="usage-charts"' in body
    assert storage_rows(body) == 180
    assert "Vary" in partial.headers and "HX-Request" in partial.headers["Vary"]
    assert storage_rows(client.get(url, {"range": 7}).content.decode()) == 30


@pytest.mark.time_machine(datetime(2026, 6, 10, 15, tzinfo=UTC))
def test_usage_history_ends_with_today_so_far_from_the_live_figures(client, me):
    """Snapshots stop at yesterday; a user at 500% today must see it."""
    record_usage_event(
        event_id="today", account=me, meter="bandwidth", quantity=25 * GB
    )
    page = client.get(reverse("dashboard:user-usage", args=[me.pk])).content.decode()
    chart = json.loads(
        page.split('id="series-bandwidth" type="application/json">')[1].split("<")[0]
    )
    assert chart["labels"][-1] == "Today, so far"
    assert chart["used"][-1] == 25.0 and chart["limit"][-1] == 5.0
    table = page.split('id="chart-title-bandwidth"')[1].split("</table>")[0]
    first_row = table.split("<tbody>")[1].split("</tr>")[0]
    assert "Today, so far" in first_row and "10 Jun 2026" in first_row
    assert "25.0 GB" in first_row and "state-exceeded" in first_row


@pytest.mark.parametrize(
    ("name", "args", "limit"),
    [
        ("dashboard:user-overview", [], 23),  # + the live grants of the limit parts
        # The snapshots, then today's live figures.
        ("dashboard:user-usage", [], 16),
        ("dashboard:user-packs", [], 12),  # + the tax the prices carry
        # The quote: billing details, the owner's e-mail and the tax rate.
        ("dashboard:user-buy", ["slots-5-once"], 21),
        ("dashboard:user-purchases", [], 11),
        # One overage figure per priced meter: constant, whatever the history.
        ("dashboard:user-overage", [], 24),
        ("dashboard:user-billing", [], 12),
        ("dashboard:company-job-slots", [], 12),
    ],
)
def test_page_queries_do_not_grow_with_history(
    client, my_company, name, args, limit, django_assert_max_num_queries
):
    url = reverse(name, args=[my_company.pk, *args])
    _snapshots(my_company, 30)
    client.get(url)
    with django_assert_max_num_queries(limit):
        assert client.get(url).status_code == 200
    UsageSnapshot.objects.all().delete()
    _snapshots(my_company, 170)
    for n in range(30):
        record_usage_event(
            event_id=f"e{n}", account=my_company, meter="bandwidth", quantity=GB
        )
    JobSlotFactory.create_batch(2, account=my_company)
    owner, staff = (
        owner_of(my_company),
        StaffUserFactory(perms=["billing.refund_charge"]),
    )
    for n, code in enumerate(["slots-5-sub", "storage-50gb-sub", "slots-20-once"]):
        bought = purchase_pack(
            account=my_company,
            pack=Pack.objects.get(code=code),
            actor=owner,
            idempotency_key=f"grow-{n}",
        )
        if code.endswith("-sub"):
            renew_purchase(
                purchase=ending_soon(bought.purchase),
                actor=owner,
                idempotency_key=f"renew-{n}",
            )
        else:
            refund_charge(charge=bought.charge, actor=staff)
        _alert(my_company, kind=Alert.Kind.EXPIRING_SOON, message=f"Pack {n} expires")
    with django_assert_max_num_queries(limit):
        assert client.get(url).status_code == 200


@pytest.mark.time_machine(datetime(2026, 12, 10, 12, tzinfo=UTC))
def test_a_top_up_is_shown_apart_from_the_monthly_allowance_in_the_order_used(
    client, me
):
    """A 365-day +100 GB pack is not "105 GB a month": the card lists the
    allowance (which resets) and then each top-up's balance and expiry."""
    yearly = PackFactory(name="Bandwidth 100 GB, yearly", lines={"bandwidth": 100 * GB})
    sooner = PackFactory(
        name="Bandwidth 10 GB", term_days=30, lines={"bandwidth": 10 * GB}
    )
    for pack in (yearly, sooner):
        purchase_pack(account=me, pack=pack, actor=me.user, idempotency_key=pack.code)
    record_usage_event(event_id="bw", account=me, meter="bandwidth", quantity=6 * GB)

    page = client.get(overview_url(me)).content.decode()
    card = page.split('id="quota-bandwidth"')[1].split("</li>\n</ol>")[0]
    parts = card.split('<ol class="limit-parts">')[1].split("</ol>")[0]
    items = [item.split("</li>")[0] for item in parts.split("<li>")[1:]]
    assert len(items) == 3
    # The allowance burns first, then the top-up that expires first.
    assert "Monthly allowance" in items[0]
    assert "0.0 GB left of 5.0 GB" in items[0] and "resets 1 Jan 2027" in items[0]
    assert "Top-up: Bandwidth 10 GB" in items[1]
    assert "9.0 GB left of 10.0 GB" in items[1] and "until 9 Jan 2027" in items[1]
    assert "Top-up: Bandwidth 100 GB, yearly" in items[2]
    assert "100.0 GB left of 100.0 GB" in items[2] and "until 10 Dec 2027" in items[2]
