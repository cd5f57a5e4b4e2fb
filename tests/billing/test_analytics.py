"""Staff metrics on hand-computed fixtures."""

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.utils import timezone

from billing.analytics import (
    DateRange,
    outstanding_balances,
    pack_popularity,
    recurring_revenue_cents,
    revenue_report,
    usage_patterns,
)
from billing.analytics.usage import _band
from billing.models import Pack, Purchase, UsageRollup
from billing.services.accounts import set_account_block
from billing.services.consents import give_overage_consent
from billing.services.packs import purchase_pack, renew_purchase
from billing.services.refunds import refund_charge
from billing.services.rollups import refresh_usage_rollups
from billing.services.snapshots import take_usage_snapshots
from billing.units import GB
from tests.billing.services.test_rollups import ROLLUP_CASES
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import (
    ChargeRecordFactory,
    UsageSnapshotFactory,
    ending_soon,
    meter,
    personal_account,
    record_usage,
)

pytestmark = pytest.mark.django_db

PINNED = datetime(2026, 6, 10, 12, tzinfo=UTC)
DAY = date(2026, 11, 20)


@pytest.fixture
def analyst():
    return StaffUserFactory(perms=["billing.view_analytics"])


NOV = DateRange(date(2026, 11, 1), date(2026, 11, 30))


def at(day: int, month: int = 11, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def charge(account, cents, *, kind="overage", when=None, **kw):
    """A charge on 10 November unless ``when``; pending unless a trait
    (``paid``, ``failed``, ``void``) says otherwise."""
    return ChargeRecordFactory(
        account=account, kind=kind, amount_cents=cents, created_at=when or at(10), **kw
    )


def test_revenue_counts_paid_and_pending_not_failed_or_void(analyst):
    account = personal_account()
    charge(account, 1000, paid=True)
    charge(account, 300)
    charge(account, 5000, failed=True)
    charge(account, 7000, void=True)
    report = revenue_report(viewer=analyst, period=NOV)
    assert report.total == 1300
    assert report.totals_by_kind["overage"] == 1300


def test_a_refund_reduces_revenue_on_its_own_day(analyst):
    account = personal_account()
    original = charge(account, 2000, kind="capacity_pack", when=at(3), paid=True)
    ChargeRecordFactory(refund=True, refund_of=original, created_at=at(20))
    report = revenue_report(viewer=analyst, period=NOV)
    by_day = {row.bucket: row.total for row in report.rows}
    assert by_day[date(2026, 11, 3)] == 2000
    assert by_day[date(2026, 11, 20)] == -2000
    assert report.total == 0
    assert report.totals_by_kind["refund"] == -2000


def test_revenue_per_month_and_change_versus_the_previous_range(analyst):
    account = personal_account()
    charge(account, 500, when=at(15, month=10), paid=True)  # previous range
    charge(account, 700, when=at(2), paid=True)
    charge(account, 800, when=at(30, hour=23), paid=True)
    charge(account, 900, when=at(1, month=12, hour=0), paid=True)  # outside
    report = revenue_report(viewer=analyst, period=NOV, grain="month")
    assert [(r.bucket, r.total) for r in report.rows] == [(date(2026, 11, 1), 1500)]
    assert report.previous_total == 500
    assert report.change_percent == 200.0
    daily = revenue_report(viewer=analyst, period=NOV)
    assert len(daily.rows) == 30


@pytest.mark.time_machine(PINNED)
def test_recurring_revenue_normalises_active_subscriptions_to_30_days(analyst):
    account = personal_account()
    user = account.user
    for code, key in (("bandwidth-100gb-sub", "a"), ("storage-50gb-sub", "b")):
        purchase_pack(
            account=account, pack=Pack.objects.get(code=code), actor=user,
            idempotency_key=key,
        )  # fmt: skip
    purchase_pack(
        account=account,
        pack=Pack.objects.get(code="storage-50gb-once"),
        actor=user,
        idempotency_key="c",
    )
    bandwidth = Pack.objects.get(code="bandwidth-100gb-sub")
    storage = Pack.objects.get(code="storage-50gb-sub")
    expected = (bandwidth.price_cents + storage.price_cents) * 30 / 365
    assert recurring_revenue_cents(viewer=analyst, at=datetime.now(UTC)) == round(
        expected
    )


@pytest.mark.time_machine(PINNED)
def test_pack_popularity_units_renewals_lapses_and_share(analyst):
    account = personal_account()
    user = account.user
    sub = Pack.objects.get(code="storage-50gb-sub")
    once = Pack.objects.get(code="bandwidth-100gb-once")
    first = purchase_pack(account=account, pack=sub, actor=user, idempotency_key="s1")
    renew_purchase(
        purchase=ending_soon(first.purchase), actor=user, idempotency_key="s1-r"
    )
    lapsed = purchase_pack(account=account, pack=sub, actor=user, idempotency_key="s2")
    refunded = purchase_pack(
        account=account, pack=once, actor=user, idempotency_key="o"
    )
    refund_charge(
        charge=refunded.charge,
        actor=StaffUserFactory(perms=["billing.refund_charge"]),
    )
    # The second subscription's term ended yesterday without a renewal.
    Purchase.objects.filter(pk=lapsed.purchase.pk).update(
        starts_at=timezone.now() - timedelta(days=366),
        expires_at=timezone.now() - timedelta(days=1),
    )
    today = timezone.now().date()
    stats = {
        s.pack.code: s
        for s in pack_popularity(
            viewer=analyst, period=DateRange(today - timedelta(days=5), today)
        )
    }
    storage = stats["storage-50gb-sub"]
    assert (storage.units, storage.renewals, storage.lapses) == (2, 1, 1)
    assert storage.revenue_cents == 3 * sub.price_cents
    bandwidth = stats["bandwidth-100gb-once"]
    assert (bandwidth.units, bandwidth.revenue_cents) == (1, 0)  # refunded
    assert storage.share == 100.0


@pytest.mark.time_machine(PINNED)
def test_failed_purchases_are_not_sold_units(settings, analyst):
    settings.BILLING_SANDBOX_DECLINE = True
    account = personal_account()
    purchase_pack(
        account=account,
        pack=Pack.objects.get(code="storage-50gb-once"),
        actor=account.user,
        idempotency_key="declined",
    )
    today = timezone.now().date()
    stats = {
        s.pack.code: s
        for s in pack_popularity(viewer=analyst, period=DateRange(today, today))
    }
    assert stats["storage-50gb-once"].units == 0
    assert stats["storage-50gb-once"].revenue_cents == 0


@pytest.mark.parametrize(
    ("age", "bucket"),
    [
        (timedelta(0), "0-30"),
        (timedelta(days=30, hours=23), "0-30"),
        (timedelta(days=31), "31-60"),
        (timedelta(days=60, hours=23), "31-60"),
        (timedelta(days=61), "61-90"),
        (timedelta(days=90, hours=23), "61-90"),
        (timedelta(days=91), "90+"),
        (timedelta(days=400), "90+"),
    ],
)
def test_aging_buckets_at_their_boundaries(age, bucket, analyst):
    now = at(21)
    account = personal_account()
    charge(account, 100, when=now - age)
    report = outstanding_balances(viewer=analyst, at=now)
    assert report.buckets[bucket] == 100
    assert sum(report.buckets.values()) == 100
    assert report.rows[0].buckets[bucket] == 100


def test_balances_list_oldest_debt_first_and_total_only_pending(analyst):
    now = at(21)
    young, old = personal_account(), personal_account()
    charge(young, 100, when=now - timedelta(days=2))
    charge(old, 250, when=now - timedelta(days=70))
    charge(old, 50, when=now - timedelta(days=1))
    charge(old, 999, paid=True, when=now - timedelta(days=70))
    report = outstanding_balances(viewer=analyst, at=now)
    assert [r.account_id for r in report.rows] == [old.pk, young.pk]
    assert report.rows[0].total == 300
    assert (report.total, report.accounts) == (400, 2)
    assert (
        outstanding_balances(viewer=analyst, at=now, limit=1).rows[0].account_id
        == old.pk
    )


@pytest.mark.parametrize(("used", "state", "unbilled"), ROLLUP_CASES)
def test_a_live_status_falls_in_the_band_its_snapshot_would(used, state, unbilled):
    limit = 10 * GB
    UsageSnapshotFactory(
        day=DAY, used=used, limit=limit, state=state, unbilled_excess=unbilled
    )
    refresh_usage_rollups(start=DAY, end=DAY)
    rollup = UsageRollup.objects.get(meter=meter("bandwidth"))
    consent = object() if state in ("overage", "blocked") else None
    live = SimpleNamespace(used=used, limit=limit, state=state, consent=consent)
    assert getattr(rollup, _band(live)) == 1


def test_a_staff_block_without_a_consent_is_over_with_no_consent():
    # Live states show a staff block as "blocked"; snapshots leave it out.
    blocked = SimpleNamespace(used=12, limit=10, state="blocked", consent=None)
    assert _band(blocked) == "over_without_consent"


DEC_2 = datetime(2026, 12, 2, 10, 42, tzinfo=UTC)  # 10:42 on 2 Dec


use = record_usage


def _by_code(report):
    return {usage.meter.code: usage for usage in report.meters}


@pytest.mark.time_machine(DEC_2, tick=False)
def test_usage_today_comes_from_the_live_counters_not_last_nights_snapshot(
    analyst,
):
    with time_machine.travel(datetime(2026, 11, 20, tzinfo=UTC)):
        calm, heavy, consented, blocked = (personal_account() for _ in range(4))
    for account in (calm, heavy, consented, blocked):
        use(account, "bandwidth", 2 * GB, at=datetime(2026, 12, 1, 9, tzinfo=UTC))
    take_usage_snapshots(
        day=date(2026, 12, 1), at=datetime(2026, 12, 2, 0, 5, tzinfo=UTC)
    )
    # After the snapshot, today: three of them go past 5 GB.
    morning = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    give_overage_consent(
        account=consented, meter=meter("bandwidth"), cap_cents=10_000,
        recurring=False, actor=consented.user, at=morning,
    )  # fmt: skip
    use(heavy, "bandwidth", 4 * GB, at=morning)
    use(consented, "bandwidth", 5 * GB, at=morning)
    use(blocked, "bandwidth", 6 * GB, at=morning)
    set_account_block(
        account=blocked, blocked=True, reason="test",
        actor=StaffUserFactory(perms=["billing.block_account"]),
    )  # fmt: skip

    report = usage_patterns(
        viewer=analyst, period=DateRange(date(2026, 11, 3), date(2026, 12, 2)), at=DEC_2
    )

    assert (report.snapshots_to, report.today, report.missing) == (
        date(2026, 12, 1), date(2026, 12, 2), None,
    )  # fmt: skip
    bandwidth = _by_code(report)["bandwidth"]
    last_night = bandwidth.last_snapshot
    assert (
        last_night.day,
        last_night.over_with_consent + last_night.over_without_consent,
    ) == (date(2026, 12, 1), 0)
    today = bandwidth.today
    assert bandwidth.latest is today and bandwidth.rows[-1] is today
    assert (today.day, today.total_used) == (
        date(2026, 12, 2),
        2 * GB + 6 * GB + 7 * GB + 8 * GB,
    )
    assert (today.over_with_consent, today.over_without_consent) == (1, 2)
    # The rest are idle: calm (40%), and the two staff users' own accounts.
    assert (today.accounts, today.under_50) == (6, 3)
    assert today.unbilled_excess is None  # only snapshots carry it
    assert [(t.account, t.used, t.limit, t.state) for t in bandwidth.top] == [
        (blocked, 8 * GB, 5 * GB, "blocked"),
        (consented, 7 * GB, 5 * GB, "overage"),
        (heavy, 6 * GB, 5 * GB, "exceeded"),
        (calm, 2 * GB, 5 * GB, "ok"),
    ]
    storage = _by_code(report)["storage"]
    assert (storage.today.under_50, storage.top) == (6, [])  # idle

    # A range that ends before today is the snapshots' alone.
    past = usage_patterns(
        viewer=analyst, period=DateRange(date(2026, 12, 1), date(2026, 12, 1)), at=DEC_2
    )
    bandwidth = _by_code(past)["bandwidth"]
    assert past.today is None and bandwidth.today is None
    assert bandwidth.latest.day == date(2026, 12, 1)
    assert [t.used for t in bandwidth.top] == [2 * GB] * 4


@pytest.mark.time_machine(DEC_2)
def test_finished_days_without_snapshots_are_named(analyst):
    for day in (28, 29):
        UsageSnapshotFactory(day=date(2026, 11, day), used=GB)
    refresh_usage_rollups(start=date(2026, 11, 28), end=date(2026, 11, 29))
    report = usage_patterns(
        viewer=analyst, period=DateRange(date(2026, 11, 3), date(2026, 12, 2)), at=DEC_2
    )
    assert report.snapshots_to == date(2026, 11, 29)
    assert report.missing == DateRange(date(2026, 11, 30), date(2026, 12, 1))


def test_balances_on_a_past_date_count_charges_paid_only_later(analyst):
    now = at(21)
    account = personal_account()
    charge(account, 400, paid=True, when=now - timedelta(days=10), paid_at=now)
    charge(account, 100, paid=True, when=now - timedelta(days=10),
           paid_at=now - timedelta(days=8))  # fmt: skip
    assert outstanding_balances(viewer=analyst, at=now - timedelta(days=5)).total == 400
    assert outstanding_balances(viewer=analyst, at=now).total == 0
