"""Event-time edge cases from a review of the billing arithmetic.

Every step happens at a named instant; amounts are worked by hand in each
docstring. Free plan: storage 2 GB at $0.10/GB-month, bandwidth 5 GB a
month at $0.09/GB.
"""

from datetime import date

import pytest

from billing.errors import UsageBatchRejected
from billing.models import ClosedPeriod, GaugeLevel, UsageCounter, UsageEvent
from billing.quotas.current import period_overage
from billing.selectors import authorize_usage, quota_status
from billing.services.expirations import sweep_expirations
from billing.services.periods import close_due_periods
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
    renew,
    snapshot_days,
    use,
)

pytestmark = pytest.mark.django_db


def test_renewal_starting_later_cache_equals_rebuild_after_the_sweep():
    """As a1: the renewal starts Mar 15 with no later event. The periodic
    expiry sweep folds the started term into the counter caches (readers
    fold it themselves until then): covered 2 GB, consented 0, as a
    rebuild says."""
    acct = customer()
    pack = PackFactory(lines={"bandwidth": 1 * GB}, term_days=10, subscription=True)
    consent(acct, "bandwidth", 10_000, on=moment(3, 1))
    first = buy(acct, pack, on=moment(3, 5))
    use(acct, "bandwidth", 7 * GB, on=moment(3, 6))
    renew(first.purchase, on=moment(3, 10))
    with clock(moment(3, 20)):
        sweep_expirations()
    before, after = rebuild_diff(acct, now=moment(3, 20))
    assert before["counters"] == after["counters"]
    assert before == after


def test_renewal_starting_later_authorize_and_state():
    """As a1 but no consent: Mar 6 7 GB = 5 + 1 + 1 GB unconsented excess.
    Renewal (1 GB) starts Mar 15 and covers that excess: on Mar 20 used 7,
    limit 5 + 2 burned + 0 left = 7 -> exceeded; authorize(1 byte) needs
    consent. With the stale cache the limit is 5 + 1 + 1 = 7 too, so check
    the staff figure: unbilled on the overage page must be 0."""
    acct = customer()
    pack = PackFactory(lines={"bandwidth": 1 * GB}, term_days=10, subscription=True)
    first = buy(acct, pack, on=moment(3, 5))
    use(acct, "bandwidth", 7 * GB, on=moment(3, 6))
    renew(first.purchase, on=moment(3, 10))
    at = moment(3, 20)
    with clock(at):
        page = period_overage(account=acct, meter=meter("bandwidth"), at=at)
    assert page.excess_units == 0
    assert page.unbilled_cents == 0


def test_storage_delta_into_a_period_closed_early_moves_to_the_open_one():
    """Consent Mar 1 recurring (cap $100). March closed with --period on
    Apr 1 00:30. Late +3 GB dated Mar 31 12:00 arrives Apr 1 01:00: recorded
    as of Apr 1 00:00. March bill: nothing (level 0 all March). April:
    1 GB excess x 30 days / 30 x 10c = 10c."""
    acct = customer()
    consent(acct, "storage", 10_000, on=moment(3, 1), recurring=True)
    use(acct, "storage", 1 * GB, on=moment(3, 2))
    close(MARCH, on=moment(4, 1, 0, 30))
    use(acct, "storage", 3 * GB, on=moment(3, 31, 12), received=moment(4, 1, 1))
    ev = UsageEvent.objects.get(account=acct, quantity=3 * GB)
    assert ev.timestamp == moment(4, 1)
    assert GaugeLevel.objects.get(account=acct).level == 4 * GB
    assert overage_cents(acct, "storage", MARCH) == []
    snapshot_days(APRIL.start, date(2027, 4, 30))
    close(APRIL, on=moment(5, 4, 1))
    # April: level 4 GB, limit 2 GB -> 2 GB x 30 days / 30 x 10c = 20c
    assert overage_cents(acct, "storage", APRIL) == [20]


def test_same_id_in_two_accounts_and_twice_in_one_batch():
    """Ids are scoped to accounts; the same id twice in one batch with the
    same payload: 1 accepted + 1 duplicate."""
    a, b = customer(), customer()
    now = moment(3, 5)
    with clock(now):
        r1 = record_usage_events(
            events=[
                UsageEventInput(
                    id="x", account=a, meter="bandwidth", quantity=5, timestamp=now
                ),
                UsageEventInput(
                    id="x", account=b, meter="bandwidth", quantity=7, timestamp=now
                ),
            ]
        )
        r2 = record_usage_events(
            events=[
                UsageEventInput(
                    id="y", account=a, meter="bandwidth", quantity=3, timestamp=now
                ),
                UsageEventInput(
                    id="y", account=a, meter="bandwidth", quantity=3, timestamp=now
                ),
            ]
        )
    assert (r1.accepted, r1.duplicates) == (2, 0)
    assert (r2.accepted, r2.duplicates) == (1, 1)
    assert UsageCounter.objects.get(account=a).used == 8
    assert UsageCounter.objects.get(account=b).used == 7


def test_same_id_twice_in_one_batch_different_payload_is_a_conflict():
    a = customer()
    now = moment(3, 5)
    with clock(now), pytest.raises(UsageBatchRejected) as info:
        record_usage_events(
            events=[
                UsageEventInput(
                    id="z", account=a, meter="bandwidth", quantity=3, timestamp=now
                ),
                UsageEventInput(
                    id="z", account=a, meter="bandwidth", quantity=4, timestamp=now
                ),
            ]
        )
    assert [d["code"] for d in info.value.details] == ["idempotency_conflict"]
    assert not UsageEvent.objects.filter(account=a).exists()


def test_recurring_consent_crosses_months():
    """Mar 10 recurring consent cap $1. April 5: 6 GB -> 1 GB consented = 9c.
    April 20: 20 GB more -> 21 GB consented = 189c, capped at 100c."""
    acct = customer()
    consent(acct, "bandwidth", 100, on=moment(3, 10), recurring=True)
    use(acct, "bandwidth", 6 * GB, on=moment(4, 5))
    at = moment(4, 6)
    with clock(at):
        st = quota_status(account=acct, meter=meter("bandwidth"), at=at)
    assert st.state == "overage"
    assert st.accrued_cents == 9
    use(acct, "bandwidth", 20 * GB, on=moment(4, 20))
    close(APRIL, on=moment(5, 4, 1))
    assert overage_cents(acct, "bandwidth", APRIL) == [100]


def test_grace_keeps_month_open_for_late_counter_events():
    """Consent Mar 1. Mar 31 23:59 event of 6 GB arrives Apr 3 23:00 (within
    72 h): accepted, billed 9c at the close due from Apr 4 00:00."""
    acct = customer()
    consent(acct, "bandwidth", 10_000, on=moment(3, 1))
    with clock(moment(4, 2)):
        assert close_due_periods(at=moment(4, 2)) == []
    use(acct, "bandwidth", 6 * GB, on=moment(3, 31, 23, 59), received=moment(4, 3, 23))
    with clock(moment(4, 4)):
        closes = close_due_periods(at=moment(4, 4))
    assert [c.period for c in closes] == [MARCH]
    assert overage_cents(acct, "bandwidth", MARCH) == [9]
    with clock(moment(4, 5)):
        assert close_due_periods(at=moment(4, 5)) == []
    close(MARCH, on=moment(4, 6))
    assert overage_cents(acct, "bandwidth", MARCH) == [9]


def test_event_at_midnight_belongs_to_the_new_month():
    """Consent Mar 1 non-recurring. 6 GB at Apr 1 00:00:00 -> April usage,
    no consent in April: March bill nothing, April nothing."""
    acct = customer()
    consent(acct, "bandwidth", 10_000, on=moment(3, 1))
    use(acct, "bandwidth", 6 * GB, on=moment(4, 1))
    assert UsageCounter.objects.get(account=acct).period_start == APRIL.start
    close(MARCH, on=moment(4, 4, 1))
    close(APRIL, on=moment(5, 4, 1))
    assert overage_cents(acct, "bandwidth", MARCH) == []
    assert overage_cents(acct, "bandwidth", APRIL) == []


def test_ten_accounts_at_10_to_the_18_snapshot_rollup():
    """Ten accounts each store 10^18 bytes; the day's rollup total_used is
    10^19 (past bigint). Taking the day's snapshots must not crash."""
    accounts = [customer() for _ in range(10)]
    with clock(moment(3, 1, 1)):
        for acct in accounts:
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
    snapshot_days(MARCH.start, MARCH.start)


def test_authorize_right_after_consent_same_instant():
    """Mar 5: 6 GB (1 GB unconsented excess). Consent at Mar 6 12:00 cap 20c.
    authorize 2 GB at the same instant: cost 2 GB x 9c = 18c <= 20c -> allowed."""
    acct = customer()
    use(acct, "bandwidth", 6 * GB, on=moment(3, 5))
    t = moment(3, 6, 12)
    consent(acct, "bandwidth", 20, on=t)
    with clock(t):
        auth = authorize_usage(
            account=acct, meter=meter("bandwidth"), quantity=2 * GB, at=t
        )
        auth3 = authorize_usage(
            account=acct, meter=meter("bandwidth"), quantity=3 * GB, at=t
        )
    assert auth.allowed, auth
    assert not auth3.allowed and auth3.reason == "blocked"


def test_a_close_that_died_before_charging_is_finished_by_the_next_run():
    """March is marked closed but the process died before charging (no
    ``charged_at``): the next scheduled close charges it. 1 GB x 9c."""
    acct = customer()
    consent(acct, "bandwidth", 10_000, on=moment(3, 1))
    use(acct, "bandwidth", 6 * GB, on=moment(3, 5))
    ClosedPeriod.objects.create(period_start=MARCH.start, closed_at=moment(4, 4))

    with clock(moment(4, 4, 1)):
        results = close_due_periods(at=moment(4, 4, 1))
        again = close_due_periods(at=moment(4, 4, 2))

    assert [r.period for r in results] == [MARCH]
    assert again == []
    assert overage_cents(acct, "bandwidth", MARCH) == [9]
