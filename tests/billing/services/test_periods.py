"""Closing a billing period: consented overage charged once, within the cap."""

from datetime import UTC, date, datetime
from functools import partial

import pytest

from billing.errors import PeriodNotOver
from billing.models import Account, ChargeRecord, ClosedPeriod, UsageCounter
from billing.services.periods import close_billing_period
from billing.services.usage import record_usage_events
from billing.units import GB, Period
from tests.factories.billing import (
    GrantFactory,
    OverageConsentFactory,
    UsageEventFactory,
    meter,
    personal_account,
    record_usage,
)

pytestmark = pytest.mark.django_db

MARCH = Period(date(2025, 3, 1))
APRIL = Period(date(2025, 4, 1))  # 30 days
AFTER_APRIL = datetime(2025, 5, 1, 2, 0, tzinfo=UTC)


def customer():
    """An account that existed all period (snapshots start at creation)."""
    account = personal_account()
    Account.objects.filter(pk=account.pk).update(
        created_at=datetime(2025, 2, 1, tzinfo=UTC)
    )
    account.refresh_from_db()
    return account


use = partial(record_usage, at=datetime(2025, 4, 15, tzinfo=UTC))


def consent(account, meter_code="bandwidth", *, cap_cents=10_000, period=APRIL, **kw):
    """A consent for ``period``, given at its start."""
    return OverageConsentFactory(
        account=account,
        meter=meter(meter_code),
        cap_cents=cap_cents,
        period=period,
        **kw,
    )


def overage_charges(account):
    return list(
        ChargeRecord.objects.filter(
            account=account, kind=ChargeRecord.Kind.OVERAGE
        ).values_list("meter__code", "period_start", "amount_cents", "status")
    )


def test_closing_twice_makes_one_overage_charge():
    account = customer()
    consent(account)
    use(account, "bandwidth", 7 * GB)  # 2 GB over x 9c = 18c

    first = close_billing_period(period=APRIL, at=AFTER_APRIL)
    second = close_billing_period(period=APRIL, at=datetime(2025, 5, 2, tzinfo=UTC))

    assert (first.charges_created, first.already_closed) == (1, False)
    assert (second.charges_created, second.already_closed) == (0, True)
    assert overage_charges(account) == [("bandwidth", APRIL.start, 18, "pending")]
    assert ClosedPeriod.objects.filter(period_start=APRIL.start).count() == 1


def test_no_overage_charge_without_a_consent():
    account = customer()
    use(account, "bandwidth", 7 * GB)
    use(account, "storage", 5 * GB)

    result = close_billing_period(period=APRIL, at=AFTER_APRIL)

    assert result.charges_created == 0
    assert overage_charges(account) == []
    # The excess is kept as a fact, just not billed.
    counter = UsageCounter.objects.get(
        account=account, meter=meter("bandwidth"), period_start=APRIL.start
    )
    assert counter.used == 7 * GB


def test_no_charge_when_usage_stayed_within_the_limit():
    account = customer()
    consent(account)
    use(account, "bandwidth", 5 * GB)

    close_billing_period(period=APRIL, at=AFTER_APRIL)

    assert overage_charges(account) == []


def test_overage_charge_never_exceeds_the_consent_cap():
    account = customer()
    consent(account, cap_cents=10)
    use(account, "bandwidth", 7 * GB)  # 18c of overage, capped at 10c

    close_billing_period(period=APRIL, at=AFTER_APRIL)

    assert overage_charges(account) == [("bandwidth", APRIL.start, 10, "pending")]
    assert "capped" in ChargeRecord.objects.get(account=account).description


def test_consent_for_another_period_does_not_apply():
    account = customer()
    consent(account, period=MARCH)
    use(account, "bandwidth", 7 * GB)

    close_billing_period(period=APRIL, at=AFTER_APRIL)

    assert overage_charges(account) == []


def test_recurring_consent_from_an_earlier_period_applies():
    account = customer()
    consent(account, period=MARCH, recurring=True)
    use(account, "bandwidth", 7 * GB)

    close_billing_period(period=APRIL, at=AFTER_APRIL)

    assert overage_charges(account) == [("bandwidth", APRIL.start, 18, "pending")]


def test_consent_on_another_meter_does_not_bill_this_one():
    account = customer()
    consent(account, "transcoding")
    use(account, "bandwidth", 7 * GB)

    close_billing_period(period=APRIL, at=AFTER_APRIL)

    assert overage_charges(account) == []


def test_each_consented_account_is_charged_its_own_overage():
    heavy, light, unconsented = customer(), customer(), customer()
    consent(heavy)
    consent(light)
    use(heavy, "bandwidth", 8 * GB)  # 3 GB x 9c = 27c
    use(light, "bandwidth", 6 * GB)  # 1 GB x 9c = 9c
    use(unconsented, "bandwidth", 9 * GB)

    result = close_billing_period(period=APRIL, at=AFTER_APRIL)

    assert result.charges_created == 2
    assert overage_charges(heavy) == [("bandwidth", APRIL.start, 27, "pending")]
    assert overage_charges(light) == [("bandwidth", APRIL.start, 9, "pending")]
    assert overage_charges(unconsented) == []


def test_bandwidth_overage_is_excess_gb_times_9_cents_rounded_half_up():
    account = customer()
    consent(account)
    use(account, "bandwidth", 7_500_000_000)
    # 7.5 GB - 5 GB allowance = 2.5 GB x 9c = 22.5c -> 23c (half-up).

    close_billing_period(period=APRIL, at=AFTER_APRIL)

    assert overage_charges(account) == [("bandwidth", APRIL.start, 23, "pending")]


def test_transcoding_overage_is_excess_minutes_times_3_cents_rounded_half_up():
    account = customer()
    consent(account, "transcoding")
    use(account, "transcoding", 3750)
    # 3750 s - 3600 s allowance = 150 s = 2.5 min x 3c = 7.5c -> 8c (half-up).

    close_billing_period(period=APRIL, at=AFTER_APRIL)

    assert overage_charges(account) == [("transcoding", APRIL.start, 8, "pending")]


def test_counter_overage_is_what_top_ups_did_not_cover():
    account = customer()
    consent(account)
    GrantFactory(
        account=account,
        meter=meter("bandwidth"),
        amount=GB,
        effective_at=APRIL.starts_at,
        expires_at=None,
    )
    use(account, "bandwidth", 7_500_000_000)
    # 7.5 GB - 5 GB allowance - 1 GB top-up = 1.5 GB x 9c = 13.5c -> 14c.

    close_billing_period(period=APRIL, at=AFTER_APRIL)

    assert overage_charges(account) == [("bandwidth", APRIL.start, 14, "pending")]


def test_storage_overage_is_billed_per_gb_month():
    account = customer()
    consent(account, "storage")
    record_usage_events(
        events=[
            UsageEventFactory.build(
                id="up",
                account=account,
                meter="storage",
                quantity=5 * GB,
                timestamp=datetime(2025, 4, 1, tzinfo=UTC),
            ),
            UsageEventFactory.build(
                id="down",
                account=account,
                meter="storage",
                quantity=-3 * GB,
                timestamp=datetime(2025, 4, 11, tzinfo=UTC),
            ),
        ],
        received_at=datetime(2025, 4, 11, 12, tzinfo=UTC),
    )
    # April has 30 days; limit 2 GB. Level 5 GB at the end of 1-10 April
    # (10 days), 2 GB from 11 April on. Excess 3 GB x 10 days = 30 GB-days;
    # 30 / 30 days = 1 GB-month x 10c = 10c.

    close_billing_period(period=APRIL, at=AFTER_APRIL)

    assert overage_charges(account) == [("storage", APRIL.start, 10, "pending")]


def test_storage_overage_rounds_half_a_cent_up():
    account = customer()
    consent(account, "storage")
    record_usage_events(
        events=[
            UsageEventFactory.build(
                id="up",
                account=account,
                meter="storage",
                quantity=3_500_000_000,
                timestamp=datetime(2025, 4, 1, tzinfo=UTC),
            ),
            UsageEventFactory.build(
                id="down",
                account=account,
                meter="storage",
                quantity=-1_500_000_000,
                timestamp=datetime(2025, 4, 6, tzinfo=UTC),
            ),
        ],
        received_at=datetime(2025, 4, 6, 12, tzinfo=UTC),
    )
    # Limit 2 GB; level 3.5 GB at the end of 1-5 April (5 days), then 2 GB.
    # Excess 1.5 GB x 5 days = 7.5 GB-days; 7.5 / 30 days = 0.25 GB-month
    # x 10c = 2.5c -> 3c (half-up; banker's rounding would give 2c).

    close_billing_period(period=APRIL, at=AFTER_APRIL)

    assert overage_charges(account) == [("storage", APRIL.start, 3, "pending")]


def test_storage_grant_lasting_to_the_period_end_covers_the_last_day():
    account = customer()
    consent(account, "storage")
    GrantFactory(
        account=account,
        meter=meter("storage"),
        amount=3 * GB,
        effective_at=datetime(2025, 3, 1, tzinfo=UTC),
        expires_at=APRIL.ends_at,
    )
    use(account, "storage", 5 * GB, at=APRIL.starts_at)
    # Limit 2 GB + 3 GB all April, level 5 GB: no excess on any day.

    close_billing_period(period=APRIL, at=AFTER_APRIL)

    assert overage_charges(account) == []


def test_storage_excess_of_the_previous_period_is_not_billed_again():
    account = customer()
    consent(account, "storage", period=MARCH, recurring=True)
    use(account, "storage", 5 * GB, at=datetime(2025, 3, 1, tzinfo=UTC))
    use(account, "storage", -3 * GB, at=datetime(2025, 4, 1, tzinfo=UTC))
    # March: 31 days at 3 GB over = 93 GB-days / 31 = 3 GB-month x 10c = 30c.
    # April: back at the 2 GB limit from 1 April: nothing.

    close_billing_period(period=MARCH, at=datetime(2025, 4, 1, 1, tzinfo=UTC))
    close_billing_period(period=APRIL, at=AFTER_APRIL)

    assert overage_charges(account) == [("storage", MARCH.start, 30, "pending")]


def test_period_not_over_yet_is_refused():
    account = customer()
    consent(account)
    use(account, "bandwidth", 7 * GB)

    with pytest.raises(PeriodNotOver):
        close_billing_period(period=APRIL, at=datetime(2025, 4, 30, 23, 59, tzinfo=UTC))

    assert not ClosedPeriod.objects.exists()
    assert overage_charges(account) == []
    # April is still open for late events.
    use(account, "bandwidth", GB, at=datetime(2025, 4, 30, 23, 59, tzinfo=UTC))
    assert (
        UsageCounter.objects.get(
            account=account, meter=meter("bandwidth"), period_start=APRIL.start
        ).used
        == 8 * GB
    )
