"""Event-time edge cases from a review of the billing arithmetic.

Every step happens at a named instant; amounts are worked by hand in each
docstring. Free plan: storage 2 GB at $0.10/GB-month, bandwidth 5 GB a
month at $0.09/GB.
"""

from datetime import date, datetime, timedelta, timezone

import pytest

from billing.models import GaugeLevel, Grant, UsageSnapshot
from billing.quotas.current import period_overage
from billing.quotas.facts import period_overage_from_facts
from billing.selectors import authorize_usage, quota_status
from billing.services.expirations import sweep_expirations
from billing.services.usage import UsageEventInput, record_usage_events
from tests.factories.billing import PackFactory, meter

from .helpers import (
    APRIL,
    GB,
    MARCH,
    buy,
    clock,
    close,
    consent,
    customer,
    moment,
    overage_cents,
    rebuild_diff,
    refund,
    renew,
    snapshot_days,
    use,
)

pytestmark = pytest.mark.django_db


def test_renewal_starting_later_covers_excess_page_close_and_cache_agree():
    """Subscription 1 GB bandwidth pack, 10-day term.
    Mar 1 consent (cap $100). Mar 5 buy (Mar 5 - Mar 15). Mar 6: 7 GB used:
    5 allowance + 1 top-up + 1 GB consented excess. Mar 10 renew: term
    Mar 15 - Mar 25. At Mar 15 the renewal starts and first covers the
    period's excess so far (1 GB, consented first) -> consented excess 0.
    Page on Mar 20, close in April: 0 cents. Burns: term1 1 GB, term2 1 GB.
    """
    acct = customer()
    pack = PackFactory(lines={"bandwidth": 1 * GB}, term_days=10, subscription=True)
    consent(acct, "bandwidth", 10_000, on=moment(3, 1))
    first = buy(acct, pack, on=moment(3, 5))
    use(acct, "bandwidth", 7 * GB, on=moment(3, 6))
    renew(first.purchase, on=moment(3, 10))
    at = moment(3, 20)
    bw = meter("bandwidth")
    with clock(at):
        page = period_overage(account=acct, meter=bw, at=at)
        facts = period_overage_from_facts(
            account=acct, meter=bw, period=MARCH, known_at=at
        )
    assert facts.consented_cents == 0  # the rules themselves
    assert page.consented_cents == 0, f"page shows {page.consented_cents}c accrued"
    with clock(at):
        sweep_expirations()  # the periodic sweep folds the started term in
    before, after = rebuild_diff(acct, now=at)
    assert before == after
    close(MARCH, on=moment(4, 5))
    assert overage_cents(acct, "bandwidth", MARCH) == []


def test_late_storage_event_with_utc_offset_corrects_yesterdays_snapshot():
    """Mar 1: 1 GB stored. Snapshots through Mar 19 taken at Mar 20 00:00.
    At Mar 20 10:00 a late +3 GB arrives stamped 2027-03-20T01:00+02:00,
    i.e. Mar 19 23:00 UTC. Mar 19's snapshot must read 4 GB."""
    acct = customer()
    use(acct, "storage", 1 * GB, on=moment(3, 1))
    snapshot_days(MARCH.start, date(2027, 3, 19))
    plus2 = timezone(timedelta(hours=2))
    with clock(moment(3, 20, 10)):
        record_usage_events(
            events=[
                UsageEventInput(
                    id="late-offset",
                    account=acct,
                    meter="storage",
                    quantity=3 * GB,
                    timestamp=datetime(2027, 3, 20, 1, 0, tzinfo=plus2),
                )
            ]
        )
    snap = UsageSnapshot.objects.get(
        account=acct, meter=meter("storage"), day=date(2027, 3, 19)
    )
    assert snap.used == 4 * GB, f"Mar 19 snapshot still {snap.used / GB} GB"


def test_late_storage_event_with_offset_into_an_earlier_day():
    """Same with a day in the middle: 2027-03-10T01:00+02:00 = Mar 9 23:00
    UTC, received Mar 20. Mar 9's snapshot must read 1 + 3 = 4 GB."""
    acct = customer()
    use(acct, "storage", 1 * GB, on=moment(3, 1))
    snapshot_days(MARCH.start, date(2027, 3, 19))
    plus2 = timezone(timedelta(hours=2))
    with clock(moment(3, 20, 10)):
        record_usage_events(
            events=[
                UsageEventInput(
                    id="late-offset-2",
                    account=acct,
                    meter="storage",
                    quantity=3 * GB,
                    timestamp=datetime(2027, 3, 10, 1, 0, tzinfo=plus2),
                )
            ]
        )
    snap = UsageSnapshot.objects.get(
        account=acct, meter=meter("storage"), day=date(2027, 3, 9)
    )
    assert snap.used == 4 * GB, f"Mar 9 snapshot still {snap.used / GB} GB"


def test_late_negative_storage_delta_never_shows_a_negative_day():
    """Mar 10: +3 GB. Snapshots through Mar 19. Mar 20: a late -2 GB dated
    Mar 5 (accepted: current level 3 -> 1). Days Mar 5..9 were 0 - 2:
    history floors each day at 0, so no snapshot is negative."""
    acct = customer()
    use(acct, "storage", 3 * GB, on=moment(3, 10))
    snapshot_days(MARCH.start, date(2027, 3, 19))
    use(acct, "storage", -2 * GB, on=moment(3, 5), received=moment(3, 20, 10))
    assert GaugeLevel.objects.get(account=acct, meter=meter("storage")).level == 1 * GB
    negative = list(
        UsageSnapshot.objects.filter(account=acct, used__lt=0).values_list(
            "day", "used"
        )
    )
    assert negative == []


def test_storage_sqlite_sum_of_huge_consented_excess():
    """A level of 10^18 bytes (1000 x 10^15) from Mar 1, consent Mar 1 with a
    large cap. Snapshots Mar 1..12 (each day ~10^18 excess, consented): the
    period's consented excess so far is ~1.2 x 10^19 byte-days, past a
    64-bit integer. Taking snapshots, the quota read and authorize must not
    crash."""
    acct = customer()
    consent(acct, "storage", 2_000_000_000, on=moment(3, 1))
    with clock(moment(3, 1, 1)):
        record_usage_events(
            events=[
                UsageEventInput(
                    id=f"big-{i}",
                    account=acct,
                    meter="storage",
                    quantity=10**15,
                    timestamp=moment(3, 1, 1),
                )
                for i in range(1000)
            ]
        )
    snapshot_days(MARCH.start, date(2027, 3, 12))
    at = moment(3, 13, 12)
    with clock(at):
        status = quota_status(account=acct, meter=meter("storage"), at=at)
        authorize_usage(account=acct, meter=meter("storage"), quantity=1, at=at)
    assert status.used == 10**18


def test_refunded_counter_top_up_midperiod_page_close_rebuild_agree():
    """Mar 1 consent (cap $100). Mar 2 buy 2 GB top-up. Mar 3: 6 GB used
    (5 allowance + 1 top-up). Mar 10 refund (1 GB left leaves). Mar 12: 2 GB
    more -> 2 GB consented excess = 18c. Close: 18c."""
    acct = customer()
    pack = PackFactory(lines={"bandwidth": 2 * GB})
    consent(acct, "bandwidth", 10_000, on=moment(3, 1))
    bought = buy(acct, pack, on=moment(3, 2))
    use(acct, "bandwidth", 6 * GB, on=moment(3, 3))
    refund(bought.charge, on=moment(3, 10))
    use(acct, "bandwidth", 2 * GB, on=moment(3, 12))
    at = moment(3, 20)
    with clock(at):
        page = period_overage(account=acct, meter=meter("bandwidth"), at=at)
        status = quota_status(account=acct, meter=meter("bandwidth"), at=at)
    assert page.consented_cents == 18
    assert status.limit == 6 * GB  # 5 allowance + 1 burned before the refund
    before, after = rebuild_diff(acct, now=at)
    assert before == after
    close(MARCH, on=moment(4, 5))
    assert overage_cents(acct, "bandwidth", MARCH) == [18]


def test_late_april_event_after_may_top_up():
    """April: 5 GB used (allowance). Consent Apr 1 recurring cap $100.
    May 1 10:00 buy 10 GB top-up. May 2: late 2 GB dated Apr 30 -> April
    excess 2 GB consented = 18c; the May pack stays untouched (10 GB)."""
    acct = customer()
    consent(acct, "bandwidth", 10_000, on=moment(4, 1), recurring=True)
    use(acct, "bandwidth", 5 * GB, on=moment(4, 10))
    pack = PackFactory(lines={"bandwidth": 10 * GB})
    buy(acct, pack, on=moment(5, 1, 10))
    use(acct, "bandwidth", 2 * GB, on=moment(4, 30, 12), received=moment(5, 2))
    grant = Grant.objects.get(account=acct)
    assert grant.consumed == 0
    at = moment(5, 3)
    with clock(at):
        status = quota_status(account=acct, meter=meter("bandwidth"), at=at)
    assert status.limit == 15 * GB
    before, after = rebuild_diff(acct, now=at)
    assert before == after
    close(APRIL, on=moment(5, 5))
    assert overage_cents(acct, "bandwidth", APRIL) == [18]


def test_top_up_expiring_midperiod_with_balance():
    """Top-up 3 GB bought Mar 1, term 10 days (ends Mar 11). Consent Mar 1.
    Mar 5: 6 GB (1 from top-up, 2 GB balance left). Mar 15: 2 GB more ->
    top-up expired, 2 GB consented excess = 18c. Limit on Mar 20 = 5 + 1."""
    acct = customer()
    pack = PackFactory(lines={"bandwidth": 3 * GB}, term_days=10)
    consent(acct, "bandwidth", 10_000, on=moment(3, 1))
    buy(acct, pack, on=moment(3, 1))
    use(acct, "bandwidth", 6 * GB, on=moment(3, 5))
    use(acct, "bandwidth", 2 * GB, on=moment(3, 15))
    at = moment(3, 20)
    with clock(at):
        status = quota_status(account=acct, meter=meter("bandwidth"), at=at)
        page = period_overage(account=acct, meter=meter("bandwidth"), at=at)
    assert status.limit == 6 * GB
    assert page.consented_cents == 18
    before, after = rebuild_diff(acct, now=at)
    assert before == after
    close(MARCH, on=moment(4, 5))
    assert overage_cents(acct, "bandwidth", MARCH) == [18]
