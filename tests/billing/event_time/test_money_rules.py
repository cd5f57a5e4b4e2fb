"""Money follows the time facts happened, not when they arrived.

Scenario tests with amounts computed by hand in the comments. Every step
happens at a named instant (the clock is pinned), so nothing depends on the
day the suite runs. Free plan: storage 2 GB at $0.10 per GB-month,
bandwidth 5 GB a month at $0.09 per GB.
"""

from datetime import date

import pytest

from billing.errors import UsageBatchRejected
from billing.models import (
    Account,
    Grant,
    UsageCounter,
    UsageEvent,
    UsageSnapshot,
)
from billing.quotas.current import period_overage
from billing.quotas.facts import period_overage_from_facts
from billing.selectors import authorize_usage, quota_status
from billing.services.expirations import sweep_expirations
from billing.services.grants import create_adjustment_grant, revoke_grant
from billing.services.packs import renew_purchase
from billing.services.refunds import refund_charge
from billing.services.usage import UsageEventInput, record_usage_events
from billing.units import GB
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import PackFactory, meter, owner_of

from .helpers import (
    APRIL,
    MARCH,
    buy,
    clock,
    close,
    consent,
    customer,
    moment,
    overage_cents,
    revoke,
    snapshot_days,
    use,
)

pytestmark = pytest.mark.django_db

# 1. Consent covers only its window -------------------------------------


def test_counter_bills_only_the_excess_used_while_a_consent_was_live():
    account = customer()
    use(account, "bandwidth", 7 * GB, on=moment(3, 5))  # 2 GB over, no consent
    consent(account, "bandwidth", 1000, on=moment(3, 10, 12))
    use(account, "bandwidth", 3 * GB, on=moment(3, 15))  # 3 GB over, consented
    revoke(account, "bandwidth", on=moment(3, 20))
    use(account, "bandwidth", 4 * GB, on=moment(3, 25))  # 4 GB over, revoked

    with clock(moment(3, 26)):
        page = period_overage(
            account=account, meter=meter("bandwidth"), at=moment(3, 26)
        )
    close(MARCH, on=moment(4, 4))

    # Billed: 3 GB x 9c = 27c. Unbilled: (2 + 4) GB x 9c = 54c.
    assert (page.billable_cents, page.unconsented_cents) == (27, 54)
    assert overage_cents(account, "bandwidth", MARCH) == [27]
    last_day = UsageSnapshot.objects.get(
        account=account, meter=meter("bandwidth"), day=date(2027, 3, 31)
    )
    assert last_day.unbilled_excess == 6 * GB  # what staff see as unbilled


def test_storage_bills_a_day_only_when_a_consent_was_live_at_its_last_instant():
    account = customer()
    use(account, "storage", 5 * GB, on=moment(3, 1))  # 3 GB over every day
    # Given at 00:00 on the 16th: covers the 16th, not the 15th. Revoked at
    # 00:00 on the 21st: covers the 20th, not the 21st. Days 16-20 = 5.
    consent(account, "storage", 1000, on=moment(3, 16), recurring=True)
    revoke(account, "storage", on=moment(3, 21))

    figures = period_overage_from_facts(
        account=account, meter=meter("storage"), period=MARCH, known_at=moment(4, 4)
    )
    close(MARCH, on=moment(4, 4))

    # Consented: 5 days x 3 GB = 15 GB-days / 31 x 10c = 4.84c -> 5c.
    # All excess: 31 x 3 = 93 GB-days / 31 x 10c = 30c, so 25c unbilled.
    assert (figures.billable_cents, figures.unbilled_cents) == (5, 25)
    assert overage_cents(account, "storage", MARCH) == [5]


def test_raising_the_cap_continues_the_consent_and_bills_what_was_capped():
    account = customer()
    consent(account, "bandwidth", 10, on=moment(3, 2))
    use(account, "bandwidth", 7 * GB, on=moment(3, 3))  # 2 GB: 18c > the 10c cap
    with clock(moment(3, 3, 1)):
        status = quota_status(account=account, meter=meter("bandwidth"))
    consent(account, "bandwidth", 100, on=moment(3, 4))  # replaces it, no gap
    use(account, "bandwidth", GB, on=moment(3, 5))  # 1 GB more: 9c

    close(MARCH, on=moment(4, 4))

    assert status.state == "blocked"
    assert overage_cents(account, "bandwidth", MARCH) == [27]  # 3 GB x 9c


def test_authorize_counts_only_consented_excess_against_the_cap():
    account = customer()
    use(account, "bandwidth", 10 * GB, on=moment(3, 2))  # 5 GB over, no consent
    consent(account, "bandwidth", 50, on=moment(3, 3))

    with clock(moment(3, 3, 1)):
        # 45c of unconsented excess does not count: 5 GB more = 45c <= 50c.
        five = authorize_usage(
            account=account, meter=meter("bandwidth"), quantity=5 * GB
        )
        six = authorize_usage(
            account=account, meter=meter("bandwidth"), quantity=6 * GB
        )

    assert (five.allowed, five.state) == (True, "overage")
    assert (six.allowed, six.reason) == (False, "blocked")  # 54c > 50c


# 2. A refund keeps history ---------------------------------------------


def test_a_refunded_storage_pack_still_covers_the_days_before_the_refund():
    account = customer()
    pack = PackFactory(price_cents=2000, lines={"storage": 50 * GB})
    consent(account, "storage", 10_000, on=moment(3, 1), recurring=True)
    bought = buy(account, pack, on=moment(3, 1))
    use(account, "storage", 60 * GB, on=moment(3, 1, 0, 1))
    with clock(moment(3, 11)):
        refund_charge(
            charge=bought.charge,
            actor=StaffUserFactory(perms=["billing.refund_charge"]),
        )

    close(MARCH, on=moment(4, 4))  # fills every missing snapshot

    # Days 1-10 at 52 GB: 8 GB over; days 11-31 at 2 GB: 58 GB over.
    # (10 x 8 + 21 x 58) = 1298 GB-days / 31 = 41.871 GB-months x 10c
    # = 418.71c -> 419c. Without the days before the refund it would be
    # 31 x 58 / 31 x 10c = 580c.
    assert overage_cents(account, "storage", MARCH) == [419]
    tenth = UsageSnapshot.objects.get(
        account=account, meter=meter("storage"), day=date(2027, 3, 10)
    )
    assert tenth.limit == 52 * GB


def test_a_refunded_top_up_keeps_the_units_it_burned_before_the_refund():
    account = customer()
    pack = PackFactory(price_cents=1000, lines={"bandwidth": 10 * GB})
    consent(account, "bandwidth", 10_000, on=moment(4, 1))
    bought = buy(account, pack, on=moment(4, 1, 1))
    use(account, "bandwidth", 9 * GB, on=moment(4, 2))  # 5 allowance + 4 top-up
    with clock(moment(4, 10)):
        refund = refund_charge(
            charge=bought.charge,
            actor=StaffUserFactory(perms=["billing.refund_charge"]),
        )
    use(account, "bandwidth", 2 * GB, on=moment(4, 12))  # nothing covers it

    close(APRIL, on=moment(5, 4))

    assert refund.amount_cents == -1000  # the full price unless staff say less
    grant = Grant.objects.get(purchase=bought.purchase)
    assert grant.consumed == 4 * GB  # burned before the refund: stays covered
    assert overage_cents(account, "bandwidth", APRIL) == [18]  # 2 GB x 9c


# 3. Late events correct the snapshots ----------------------------------


def test_a_late_storage_upload_rewrites_every_snapshot_from_its_day():
    account = customer()
    consent(account, "storage", 10_000, on=moment(3, 1), recurring=True)
    snapshot_days(MARCH.start, date(2027, 3, 20))

    # Uploaded on the 10th, reported on the 21st: 4 GB, 2 GB over the limit.
    use(account, "storage", 4 * GB, on=moment(3, 10, 12), received=moment(3, 21, 12))

    rows = dict(
        UsageSnapshot.objects.filter(account=account, meter=meter("storage"))
        .order_by("day")
        .values_list("day", "used")
    )
    assert rows[date(2027, 3, 9)] == 0
    assert all(rows[date(2027, 3, d)] == 4 * GB for d in range(10, 21))
    close(MARCH, on=moment(4, 4))
    # 2 GB over on days 10-31: 22 x 2 = 44 GB-days / 31 x 10c = 14.19c -> 14c.
    assert overage_cents(account, "storage", MARCH) == [14]


def test_a_late_counter_event_counts_in_its_own_period_and_day():
    account = customer()
    consent(account, "bandwidth", 10_000, on=moment(3, 1), recurring=True)
    snapshot_days(MARCH.start, date(2027, 3, 31))

    use(account, "bandwidth", 6 * GB, on=moment(3, 31, 23), received=moment(4, 2))

    with clock(moment(4, 2)):
        april = quota_status(account=account, meter=meter("bandwidth"))
    last = UsageSnapshot.objects.get(
        account=account, meter=meter("bandwidth"), day=date(2027, 3, 31)
    )
    assert april.used == 0
    assert (last.used, last.state) == (6 * GB, "overage")
    close(MARCH, on=moment(4, 4))
    assert overage_cents(account, "bandwidth", MARCH) == [9]  # 1 GB x 9c


def test_after_a_close_a_late_storage_delta_counts_from_the_open_period():
    account = customer()
    use(account, "storage", GB, on=moment(3, 5))
    close(MARCH, on=moment(4, 1, 0, 5))

    use(account, "storage", 3 * GB, on=moment(3, 20), received=moment(4, 2))

    event = UsageEvent.objects.get(account=account, quantity=3 * GB)
    assert event.timestamp == APRIL.starts_at
    assert event.reported_timestamp == moment(3, 20)
    with clock(moment(4, 2)):
        assert quota_status(account=account, meter=meter("storage")).used == 4 * GB
    with pytest.raises(UsageBatchRejected) as refused:
        use(account, "bandwidth", GB, on=moment(3, 20), received=moment(4, 2))
    assert refused.value.details[0]["code"] == "period_closed"


# 4. Top-ups burn by event time -----------------------------------------


def test_a_pack_bought_in_may_never_pays_for_a_late_april_event():
    account = customer()
    consent(account, "bandwidth", 10_000, on=moment(4, 1), recurring=True)
    use(account, "bandwidth", 5 * GB, on=moment(4, 10))  # the allowance, used up
    pack = PackFactory(price_cents=1000, lines={"bandwidth": 10 * GB})
    bought = buy(account, pack, on=moment(5, 1, 0, 1))

    use(account, "bandwidth", 3 * GB, on=moment(4, 30, 12), received=moment(5, 2))

    assert Grant.objects.get(purchase=bought.purchase).consumed == 0
    close(APRIL, on=moment(5, 4))
    assert overage_cents(account, "bandwidth", APRIL) == [27]  # 3 GB x 9c


def test_a_late_event_burns_the_top_up_that_was_live_when_it_happened():
    account = customer()
    consent(account, "bandwidth", 10_000, on=moment(4, 1))
    with clock(moment(4, 5)):
        top_up = create_adjustment_grant(
            account=account,
            meter=meter("bandwidth"),
            amount=10 * GB,
            reason="goodwill",
            actor=StaffUserFactory(perms=["billing.adjust_grant"]),
        )
    use(account, "bandwidth", 5 * GB, on=moment(4, 6))  # the allowance
    with clock(moment(4, 20)):
        revoke_grant(grant=top_up, actor=None)
    # Both arrive on the 22nd: the 15th's was covered, the 21st's was not.
    use(account, "bandwidth", 3 * GB, on=moment(4, 15), received=moment(4, 22))
    use(account, "bandwidth", 2 * GB, on=moment(4, 21), received=moment(4, 22))

    top_up.refresh_from_db()
    assert top_up.consumed == 3 * GB
    close(APRIL, on=moment(5, 4))
    assert overage_cents(account, "bandwidth", APRIL) == [18]  # 2 GB x 9c


def test_a_top_up_added_later_covers_the_consented_excess_first():
    account = customer()
    use(account, "bandwidth", 6 * GB, on=moment(4, 1, 12))  # 1 GB, unconsented
    consent(account, "bandwidth", 10_000, on=moment(4, 2))
    use(account, "bandwidth", 2 * GB, on=moment(4, 3))  # 2 GB, consented
    with clock(moment(4, 4)):
        create_adjustment_grant(
            account=account,
            meter=meter("bandwidth"),
            amount=2 * GB,
            reason="goodwill",
            actor=StaffUserFactory(perms=["billing.adjust_grant"]),
        )

    close(APRIL, on=moment(5, 4))

    # The 2 GB top-up covers the 2 consented GB; the unconsented GB is never
    # billed, so nothing is charged (covering it first would bill 9c).
    assert overage_cents(account, "bandwidth", APRIL) == []


# 7. Edges --------------------------------------------------------------


def test_a_counter_past_10_to_the_18_is_usage_overflow_and_the_account_still_works():
    account = customer()
    with clock(moment(3, 5)):
        record_usage_events(
            events=[
                UsageEventInput(
                    id=f"big-{i}", account=account, meter="bandwidth", quantity=10**15
                )
                for i in range(1000)
            ]
        )
        with pytest.raises(UsageBatchRejected) as overflow:
            record_usage_events(
                events=[
                    UsageEventInput(
                        id="one-more", account=account, meter="bandwidth", quantity=1
                    )
                ]
            )
        record_usage_events(
            events=[
                UsageEventInput(
                    id="storage-ok", account=account, meter="storage", quantity=GB
                )
            ]
        )

    assert [(d["index"], d["code"]) for d in overflow.value.details] == [
        (0, "usage_overflow")
    ]
    assert UsageEvent.objects.filter(account=account).count() == 1001
    assert Account.objects.filter(pk=account.pk).exists()


def test_a_renewed_term_covers_the_excess_from_the_instant_it_starts():
    account = customer()
    consent(account, "bandwidth", 10_000, on=moment(3, 1))
    pack = PackFactory(
        price_cents=500, lines={"bandwidth": 3 * GB}, subscription=True, term_days=10
    )
    bought = buy(account, pack, on=moment(3, 1))  # 1 Mar - 11 Mar
    use(account, "bandwidth", 8 * GB, on=moment(3, 3))  # allowance + the 3 GB
    with clock(moment(3, 5)):
        renew_purchase(
            purchase=bought.purchase, actor=owner_of(account), idempotency_key="renew"
        )  # the next term starts 11 Mar 00:00
    use(account, "bandwidth", 2 * GB, on=moment(3, 8))  # 2 GB consented excess
    with clock(moment(3, 12)):
        sweep_expirations()
        counter = UsageCounter.objects.get(account=account, period_start=MARCH.start)
        status = quota_status(account=account, meter=meter("bandwidth"))

    # From 11 Mar the new 3 GB term covers the 2 GB: 5 GB burned, 1 GB left.
    assert (counter.covered_by_grants, counter.consented_excess) == (5 * GB, 0)
    assert (status.used, status.limit, status.state) == (10 * GB, 11 * GB, "warning")
    close(MARCH, on=moment(4, 4))
    assert overage_cents(account, "bandwidth", MARCH) == []
