"""Daily usage snapshots: one row per account, meter and day, as of the day's end."""

from datetime import UTC, date, datetime, timedelta

import pytest

from billing.errors import InvalidRequest
from billing.models import Account, UsageSnapshot
from billing.services.snapshots import take_usage_snapshots
from billing.units import GB, Period
from tests.factories.billing import (
    GrantFactory,
    JobSlotFactory,
    OverageConsentFactory,
    company_account,
    meter,
    personal_account,
    record_usage,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 4, 20, 3, 0, tzinfo=UTC)


def since_march(account):
    """Accounts are only snapshotted for days after they were created."""
    Account.objects.filter(pk=account.pk).update(
        created_at=datetime(2025, 3, 1, tzinfo=UTC)
    )
    account.refresh_from_db()
    return account


use = record_usage


def snapshot(account, meter_code, day):
    return UsageSnapshot.objects.get(account=account, meter=meter(meter_code), day=day)


def test_running_twice_makes_one_row_per_account_meter_and_day():
    person = since_march(personal_account())
    company = since_march(company_account())
    day = date(2025, 4, 10)

    first = take_usage_snapshots(day=day, at=NOW)
    second = take_usage_snapshots(day=day, at=NOW + timedelta(hours=1))

    rows = UsageSnapshot.objects.filter(day=day)
    assert (first, second) == (7, 0)
    assert sorted((r.account_id, r.meter.code) for r in rows) == sorted(
        [(person.pk, code) for code in ["bandwidth", "storage", "transcoding"]]
        + [
            (company.pk, code)
            for code in ["bandwidth", "job_slots", "storage", "transcoding"]
        ]
    )


def test_snapshot_of_another_day_adds_rows_for_that_day():
    account = since_march(personal_account())

    take_usage_snapshots(day=date(2025, 4, 10), at=NOW)
    take_usage_snapshots(day=date(2025, 4, 11), at=NOW)

    assert UsageSnapshot.objects.filter(account=account).count() == 6


def test_account_created_later_is_not_snapshotted_for_earlier_days():
    account = personal_account()  # created now, long after April 2025

    assert take_usage_snapshots(day=date(2025, 4, 10), at=NOW) == 0
    assert not UsageSnapshot.objects.filter(account=account).exists()


def test_storage_level_is_taken_at_the_end_of_a_past_day():
    account = since_march(personal_account())
    use(account, "storage", 5 * GB, at=datetime(2025, 4, 10, 9, tzinfo=UTC))
    use(account, "storage", -2 * GB, at=datetime(2025, 4, 12, 0, tzinfo=UTC))
    use(account, "storage", GB, at=datetime(2025, 4, 12, 23, 59, tzinfo=UTC))
    use(account, "storage", 4 * GB, at=datetime(2025, 4, 13, 0, tzinfo=UTC))

    for day in range(9, 14):
        take_usage_snapshots(day=date(2025, 4, day), at=NOW)

    assert [
        snapshot(account, "storage", date(2025, 4, d)).used for d in range(9, 14)
    ] == [
        0,
        5 * GB,
        5 * GB,
        4 * GB,
        8 * GB,
    ]
    april_11 = snapshot(account, "storage", date(2025, 4, 11))
    assert (april_11.limit, april_11.state) == (2 * GB, "exceeded")


def test_storage_level_carries_over_from_earlier_periods():
    account = since_march(personal_account())
    use(account, "storage", GB, at=datetime(2025, 3, 5, tzinfo=UTC))

    take_usage_snapshots(day=date(2025, 4, 2), at=NOW)

    assert snapshot(account, "storage", date(2025, 4, 2)).used == GB


def test_counter_snapshot_is_period_usage_up_to_that_day():
    account = since_march(personal_account())
    use(account, "bandwidth", 3 * GB, at=datetime(2025, 3, 31, 23, 0, tzinfo=UTC))
    use(account, "bandwidth", 2 * GB, at=datetime(2025, 4, 3, 12, tzinfo=UTC))
    use(account, "bandwidth", 2 * GB, at=datetime(2025, 4, 5, 12, tzinfo=UTC))

    take_usage_snapshots(day=date(2025, 3, 31), at=NOW)
    take_usage_snapshots(day=date(2025, 4, 4), at=NOW)
    take_usage_snapshots(day=date(2025, 4, 5), at=NOW)

    march_31 = snapshot(account, "bandwidth", date(2025, 3, 31))
    april_4 = snapshot(account, "bandwidth", date(2025, 4, 4))
    april_5 = snapshot(account, "bandwidth", date(2025, 4, 5))
    assert (march_31.used, march_31.state) == (3 * GB, "ok")
    assert (april_4.used, april_4.state) == (2 * GB, "ok")
    assert (april_5.used, april_5.state) == (4 * GB, "warning")


def test_snapshot_limit_counts_only_grants_live_at_the_end_of_that_day():
    account = since_march(personal_account())
    GrantFactory(
        account=account,
        meter=meter("storage"),
        amount=3 * GB,
        effective_at=datetime(2025, 4, 11, 12, tzinfo=UTC),
        expires_at=datetime(2025, 4, 14, 12, tzinfo=UTC),
    )

    for day in [10, 11, 14]:
        take_usage_snapshots(day=date(2025, 4, day), at=NOW)

    assert [
        snapshot(account, "storage", date(2025, 4, d)).limit for d in [10, 11, 14]
    ] == [2 * GB, 5 * GB, 2 * GB]


def test_job_slot_snapshot_counts_slots_held_at_the_end_of_that_day():
    account = since_march(company_account())
    JobSlotFactory(account=account, allocated_at=datetime(2025, 4, 9, tzinfo=UTC))
    JobSlotFactory(
        account=account,
        allocated_at=datetime(2025, 4, 9, tzinfo=UTC),
        released=True,
        released_at=datetime(2025, 4, 11, 9, tzinfo=UTC),
    )
    JobSlotFactory(account=account, allocated_at=datetime(2025, 4, 12, tzinfo=UTC))

    for day in [10, 11, 12]:
        take_usage_snapshots(day=date(2025, 4, day), at=NOW)

    assert [
        snapshot(account, "job_slots", date(2025, 4, d)).used for d in [10, 11, 12]
    ] == [2, 1, 2]


def test_change_at_midnight_belongs_to_the_next_day_for_every_meter():
    account = since_march(company_account())
    midnight = datetime(2025, 4, 11, tzinfo=UTC)
    use(account, "storage", 3 * GB, at=datetime(2025, 4, 10, 8, tzinfo=UTC))
    use(account, "storage", -GB, at=midnight)
    JobSlotFactory(
        account=account,
        allocated_at=datetime(2025, 4, 10, 8, tzinfo=UTC),
        released=True,
        released_at=midnight,
    )
    JobSlotFactory(account=account, allocated_at=midnight)

    take_usage_snapshots(day=date(2025, 4, 10), at=NOW)
    take_usage_snapshots(day=date(2025, 4, 11), at=NOW)

    assert snapshot(account, "storage", date(2025, 4, 10)).used == 3 * GB
    assert snapshot(account, "storage", date(2025, 4, 11)).used == 2 * GB
    assert snapshot(account, "job_slots", date(2025, 4, 10)).used == 1
    assert snapshot(account, "job_slots", date(2025, 4, 11)).used == 1


def test_day_not_over_yet_is_refused():
    account = since_march(personal_account())

    with pytest.raises(InvalidRequest):
        take_usage_snapshots(
            day=date(2025, 4, 20), at=datetime(2025, 4, 20, 23, 59, tzinfo=UTC)
        )

    assert not UsageSnapshot.objects.filter(account=account).exists()


def test_day_is_over_at_midnight():
    account = since_march(personal_account())

    take_usage_snapshots(day=date(2025, 4, 20), at=datetime(2025, 4, 21, tzinfo=UTC))

    assert UsageSnapshot.objects.filter(account=account).count() == 3


def test_last_day_of_a_month_is_snapshotted_with_that_months_top_ups():
    account = since_march(personal_account())
    GrantFactory(
        account=account,
        meter=meter("bandwidth"),
        amount=10 * GB,
        effective_at=datetime(2025, 4, 1, tzinfo=UTC),
        expires_at=None,
    )
    use(account, "bandwidth", 8 * GB, at=datetime(2025, 4, 20, tzinfo=UTC))

    take_usage_snapshots(day=date(2025, 4, 30), at=datetime(2025, 5, 1, 1, tzinfo=UTC))

    # 5 GB allowance + 3 GB the pack covered in April + 7 GB left on it.
    last_day = snapshot(account, "bandwidth", date(2025, 4, 30))
    assert (last_day.used, last_day.limit) == (8 * GB, 15 * GB)


def test_last_day_of_a_month_is_snapshotted_with_that_months_consent():
    account = since_march(personal_account())
    OverageConsentFactory(
        account=account,
        meter=meter("bandwidth"),
        cap_cents=1000,
        period=Period(date(2025, 4, 1)),
    )
    use(account, "bandwidth", 6 * GB, at=datetime(2025, 4, 20, tzinfo=UTC))

    take_usage_snapshots(day=date(2025, 4, 29), at=datetime(2025, 5, 1, 1, tzinfo=UTC))
    take_usage_snapshots(day=date(2025, 4, 30), at=datetime(2025, 5, 1, 1, tzinfo=UTC))

    assert snapshot(account, "bandwidth", date(2025, 4, 29)).state == "overage"
    assert snapshot(account, "bandwidth", date(2025, 4, 30)).state == "overage"


def test_grant_expiring_at_midnight_still_counts_for_the_day_before():
    account = since_march(personal_account())
    GrantFactory(
        account=account,
        meter=meter("storage"),
        amount=3 * GB,
        effective_at=datetime(2025, 4, 1, tzinfo=UTC),
        expires_at=datetime(2025, 4, 11, tzinfo=UTC),
    )

    take_usage_snapshots(day=date(2025, 4, 10), at=NOW)
    take_usage_snapshots(day=date(2025, 4, 11), at=NOW)

    assert snapshot(account, "storage", date(2025, 4, 10)).limit == 5 * GB
    assert snapshot(account, "storage", date(2025, 4, 11)).limit == 2 * GB
