"""Checking a usage batch: every bad event listed by index and code, and
nothing written unless all are good."""

from datetime import UTC, date, datetime, timedelta

import pytest

from billing.errors import UsageBatchRejected
from billing.models import UsageCounter, UsageEvent
from billing.services.periods import close_billing_period
from billing.services.usage import (
    UsageEventInput,
    record_usage_events,
)
from billing.units import GB, Period
from tests.factories.billing import (
    PlatformAccountFactory,
    company_account,
    personal_account,
)

from .usage_helpers import (
    NOW,
    april_2025,  # noqa: F401 (autouse fixture: events in April 2025)
    event,
    level,
    used,
)

pytestmark = pytest.mark.django_db


def rejected_codes(excinfo):
    return [(d["index"], d["code"]) for d in excinfo.value.details]


def test_one_invalid_event_rejects_the_whole_batch_and_writes_nothing():
    account = personal_account()
    record_usage_events(events=[event(account, "storage", GB)], received_at=NOW)

    with pytest.raises(UsageBatchRejected) as excinfo:
        record_usage_events(
            events=[
                event(account, "bandwidth", GB),
                event(account, "storage", 2 * GB),
                event(account, "transcoding", 0),
            ],
            received_at=NOW,
        )

    assert excinfo.value.code == "invalid_request"
    assert rejected_codes(excinfo) == [(2, "invalid_quantity")]
    assert UsageEvent.objects.count() == 1
    assert not UsageCounter.objects.filter(account=account).exists()
    assert level(account) == GB


def test_rejection_lists_every_bad_index_with_its_code():
    account = PlatformAccountFactory()
    company = company_account()
    record_usage_events(
        events=[event(account, "bandwidth", GB, id="seen")], received_at=NOW
    )

    with pytest.raises(UsageBatchRejected) as excinfo:
        record_usage_events(
            events=[
                event(account, "bandwidth", GB),
                event("acct_nobody", "bandwidth", GB),
                event(account, "cpu", 1),
                event(company, "job_slots", 1),
                event(account, "transcoding", 1.5),
                event(account, "storage", -GB),
                event(account, "bandwidth", GB, timestamp=NOW + timedelta(minutes=6)),
                event(account, "bandwidth", 2 * GB, id="seen"),
                event(account, "transcoding", 60),
            ],
            received_at=NOW,
        )

    assert rejected_codes(excinfo) == [
        (1, "unknown_account"),
        (2, "unknown_meter"),
        (3, "meter_not_event_based"),
        (4, "invalid_quantity"),
        (5, "negative_level"),
        (6, "future_timestamp"),
        (7, "idempotency_conflict"),
    ]
    assert all(d["message"] for d in excinfo.value.details)
    assert UsageEvent.objects.count() == 1
    assert used(account, "bandwidth") == GB
    assert used(account, "transcoding") == 0
    assert level(account) == 0


def test_unknown_account_is_rejected():
    with pytest.raises(UsageBatchRejected) as excinfo:
        record_usage_events(
            events=[event("acct_missing", "bandwidth", GB)], received_at=NOW
        )

    assert rejected_codes(excinfo) == [(0, "unknown_account")]
    assert not UsageEvent.objects.exists()


def test_unknown_meter_is_rejected():
    account = personal_account()

    with pytest.raises(UsageBatchRejected) as excinfo:
        record_usage_events(events=[event(account, "gpu", 1)], received_at=NOW)

    assert rejected_codes(excinfo) == [(0, "unknown_meter")]


def test_job_slots_cannot_be_reported_as_events():
    account = company_account()

    with pytest.raises(UsageBatchRejected) as excinfo:
        record_usage_events(events=[event(account, "job_slots", 1)], received_at=NOW)

    assert rejected_codes(excinfo) == [(0, "meter_not_event_based")]
    assert not account.job_slots.exists()


@pytest.mark.parametrize(
    ("meter_code", "quantity"),
    [
        ("bandwidth", 0),
        ("storage", 0),
        ("bandwidth", 1.5),
        ("bandwidth", 3.0),
        ("bandwidth", "3"),
        ("bandwidth", True),
        ("storage", False),
        ("bandwidth", None),
        ("bandwidth", 10**15 + 1),
        ("storage", 10**15 + 1),
        ("storage", -(10**15) - 1),
        ("bandwidth", -1),
        ("transcoding", -60),
    ],
)
def test_invalid_quantities_are_rejected(meter_code, quantity):
    account = personal_account()
    record_usage_events(events=[event(account, "storage", 10 * GB)], received_at=NOW)

    with pytest.raises(UsageBatchRejected) as excinfo:
        record_usage_events(
            events=[event(account, meter_code, quantity)], received_at=NOW
        )

    assert rejected_codes(excinfo) == [(0, "invalid_quantity")]
    assert UsageEvent.objects.count() == 1


def test_largest_allowed_quantity_is_accepted():
    account = personal_account()

    record_usage_events(
        events=[event(account, "bandwidth", 10**15), event(account, "storage", 10**15)],
        received_at=NOW,
    )

    assert used(account, "bandwidth") == 10**15
    assert level(account) == 10**15


def test_negative_storage_delta_within_the_level_is_accepted():
    account = personal_account()
    record_usage_events(events=[event(account, "storage", 3 * GB)], received_at=NOW)

    record_usage_events(events=[event(account, "storage", -3 * GB)], received_at=NOW)

    assert level(account) == 0


def test_storage_delta_below_zero_is_rejected():
    account = personal_account()
    record_usage_events(events=[event(account, "storage", 2 * GB)], received_at=NOW)

    with pytest.raises(UsageBatchRejected) as excinfo:
        record_usage_events(
            events=[event(account, "storage", -2 * GB - 1)], received_at=NOW
        )

    assert rejected_codes(excinfo) == [(0, "negative_level")]
    assert level(account) == 2 * GB


def test_storage_deltas_below_zero_are_caught_cumulatively_within_a_batch():
    account = personal_account()

    with pytest.raises(UsageBatchRejected) as excinfo:
        record_usage_events(
            events=[
                event(account, "storage", 5 * GB),
                event(account, "storage", -3 * GB),
                event(account, "storage", -3 * GB),
            ],
            received_at=NOW,
        )

    assert rejected_codes(excinfo) == [(2, "negative_level")]
    assert level(account) == 0
    assert not UsageEvent.objects.exists()


def test_storage_levels_of_two_accounts_are_checked_separately():
    rich, poor = personal_account(), personal_account()

    with pytest.raises(UsageBatchRejected) as excinfo:
        record_usage_events(
            events=[event(rich, "storage", 5 * GB), event(poor, "storage", -GB)],
            received_at=NOW,
        )

    assert rejected_codes(excinfo) == [(1, "negative_level")]


def test_timestamp_more_than_five_minutes_ahead_is_rejected():
    account = personal_account()

    with pytest.raises(UsageBatchRejected) as excinfo:
        record_usage_events(
            events=[
                event(account, "bandwidth", GB, timestamp=NOW + timedelta(minutes=6))
            ],
            received_at=NOW,
        )

    assert rejected_codes(excinfo) == [(0, "future_timestamp")]
    assert used(account, "bandwidth") == 0


def test_timestamp_slightly_ahead_is_accepted():
    account = personal_account()

    record_usage_events(
        events=[
            event(account, "bandwidth", GB, timestamp=NOW + timedelta(minutes=4)),
            event(account, "bandwidth", GB, timestamp=NOW + timedelta(minutes=5)),
        ],
        received_at=NOW,
    )

    assert used(account, "bandwidth") == 2 * GB


def test_event_into_a_closed_period_is_rejected():
    account = personal_account()
    march = Period(date(2025, 3, 1))
    close_billing_period(period=march, at=datetime(2025, 4, 1, 1, tzinfo=UTC))

    with pytest.raises(UsageBatchRejected) as excinfo:
        record_usage_events(
            events=[
                event(account, "bandwidth", GB, timestamp=NOW),
                event(
                    account,
                    "bandwidth",
                    GB,
                    timestamp=datetime(2025, 3, 31, 23, 0, tzinfo=UTC),
                ),
            ],
            received_at=NOW,
        )

    assert rejected_codes(excinfo) == [(1, "period_closed")]
    assert not UsageEvent.objects.exists()


def test_event_into_an_open_past_period_is_accepted():
    account = personal_account()

    record_usage_events(
        events=[
            event(account, "bandwidth", GB, timestamp=datetime(2025, 3, 3, tzinfo=UTC))
        ],
        received_at=NOW,
    )

    assert used(account, "bandwidth", Period(date(2025, 3, 1))) == GB


def test_event_before_the_previous_calendar_month_is_period_closed():
    account = personal_account()

    with pytest.raises(UsageBatchRejected) as excinfo:
        record_usage_events(
            events=[
                event(account, "bandwidth", GB),
                event(
                    account,
                    "bandwidth",
                    GB,
                    timestamp=datetime(2025, 2, 28, 23, 59, 59, tzinfo=UTC),
                ),
            ],
            received_at=NOW,
        )

    assert rejected_codes(excinfo) == [(1, "period_closed")]
    assert used(account, "bandwidth") == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"quantity": 2 * GB},
        {"meter": "transcoding", "quantity": GB},
        {"timestamp": NOW - timedelta(hours=1)},
        {"properties": {"video": "v2"}},
    ],
)
def test_same_id_with_another_payload_is_a_conflict(changes):
    account = personal_account()
    first = {
        "account": account,
        "meter": "bandwidth",
        "quantity": GB,
        "timestamp": NOW,
        "properties": {"video": "v1"},
    }
    record_usage_events(events=[UsageEventInput(id="dup", **first)], received_at=NOW)

    with pytest.raises(UsageBatchRejected) as excinfo:
        record_usage_events(
            events=[UsageEventInput(id="dup", **(first | changes))], received_at=NOW
        )

    assert rejected_codes(excinfo) == [(0, "idempotency_conflict")]
    assert UsageEvent.objects.get(event_id="dup").quantity == GB
    assert used(account, "bandwidth") == GB


def test_same_id_twice_in_one_batch_with_another_payload_is_a_conflict():
    account = personal_account()

    with pytest.raises(UsageBatchRejected) as excinfo:
        record_usage_events(
            events=[
                event(account, "bandwidth", GB, id="twice"),
                event(account, "bandwidth", 2 * GB, id="twice"),
            ],
            received_at=NOW,
        )

    assert rejected_codes(excinfo) == [(1, "idempotency_conflict")]
    assert not UsageEvent.objects.exists()
