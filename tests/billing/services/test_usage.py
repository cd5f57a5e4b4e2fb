"""Recording usage events: counters, levels, duplicates, batch sizes."""

from datetime import UTC, date, datetime, timedelta

import pytest

from billing.errors import InvalidRequest
from billing.models import UsageEvent
from billing.services.periods import close_billing_period
from billing.services.usage import (
    record_usage_event,
    record_usage_events,
)
from billing.units import GB, Period
from tests.factories.billing import (
    PlatformAccountFactory,
    personal_account,
)

from .usage_helpers import (
    APRIL,
    NOW,
    april_2025,  # noqa: F401 (autouse fixture: events in April 2025)
    event,
    level,
    used,
)

pytestmark = pytest.mark.django_db


def rejected_codes(excinfo):
    return [(d["index"], d["code"]) for d in excinfo.value.details]


def test_single_event_is_recorded_and_bumps_the_counter():
    account = PlatformAccountFactory()

    result = record_usage_event(
        event_id="e-1",
        account=account.external_id,
        meter="bandwidth",
        quantity=GB,
        timestamp=NOW,
    )

    assert (result.accepted, result.duplicates) == (1, 0)
    stored = UsageEvent.objects.get(event_id="e-1")
    assert (stored.account, stored.meter.code, stored.quantity) == (
        account,
        "bandwidth",
        GB,
    )
    assert stored.timestamp == NOW
    assert used(account, "bandwidth") == GB


def test_batch_updates_counters_per_meter_and_the_storage_level():
    account = personal_account()
    other = personal_account()

    result = record_usage_events(
        events=[
            event(account, "bandwidth", 2 * GB),
            event(account, "bandwidth", 3 * GB),
            event(account, "transcoding", 90),
            event(account, "storage", 4 * GB),
            event(account, "storage", -GB),
            event(other, "storage", GB),
        ],
        received_at=NOW,
    )

    assert (result.accepted, result.duplicates) == (6, 0)
    assert UsageEvent.objects.count() == 6
    assert used(account, "bandwidth") == 5 * GB
    assert used(account, "transcoding") == 90
    assert level(account) == 3 * GB
    assert level(other) == GB


def test_counter_usage_lands_in_the_period_of_its_timestamp():
    account = personal_account()
    late_march = datetime(2025, 3, 31, 23, 59, tzinfo=UTC)

    record_usage_events(
        events=[
            event(account, "bandwidth", GB, timestamp=late_march),
            event(account, "bandwidth", 2 * GB),
        ],
        received_at=NOW,
    )

    assert used(account, "bandwidth", Period(date(2025, 3, 1))) == GB
    assert used(account, "bandwidth", APRIL) == 2 * GB


def test_storage_level_keeps_running_across_batches():
    account = personal_account()

    record_usage_events(events=[event(account, "storage", 5 * GB)], received_at=NOW)
    record_usage_events(events=[event(account, "storage", -2 * GB)], received_at=NOW)

    assert level(account) == 3 * GB


def test_usage_past_the_limit_is_still_recorded():
    account = personal_account()  # free plan: 5 GB bandwidth, 2 GB storage

    record_usage_events(
        events=[event(account, "bandwidth", 7 * GB), event(account, "storage", 9 * GB)],
        received_at=NOW,
    )

    assert used(account, "bandwidth") == 7 * GB
    assert level(account) == 9 * GB


def test_timestamp_defaults_to_receipt_time():
    account = personal_account()

    record_usage_events(
        events=[event(account, "bandwidth", GB, timestamp=None, id="no-ts")],
        received_at=NOW,
    )

    assert UsageEvent.objects.get(event_id="no-ts").timestamp == NOW
    assert used(account, "bandwidth") == GB


def test_resending_an_event_counts_it_as_a_duplicate():
    account = PlatformAccountFactory()
    sent = event(account.external_id, "bandwidth", GB, id="retry-me")
    record_usage_events(events=[sent], received_at=NOW)

    result = record_usage_events(
        events=[sent, event(account.external_id, "bandwidth", 2 * GB)],
        received_at=NOW + timedelta(minutes=1),
    )

    assert (result.accepted, result.duplicates) == (1, 1)
    assert UsageEvent.objects.filter(event_id="retry-me").count() == 1
    assert used(account, "bandwidth") == 3 * GB


def test_resending_an_event_without_timestamp_is_a_duplicate():
    account = personal_account()
    sent = event(account, "transcoding", 30, timestamp=None, id="no-ts")
    record_usage_events(events=[sent], received_at=NOW)

    result = record_usage_events(events=[sent], received_at=NOW + timedelta(seconds=30))

    assert (result.accepted, result.duplicates) == (0, 1)
    assert used(account, "transcoding") == 30


def test_event_ids_are_scoped_to_their_account():
    first, second = personal_account(), personal_account()
    record_usage_events(
        events=[event(first, "bandwidth", GB, id="shared")], received_at=NOW
    )

    result = record_usage_events(
        events=[event(second, "bandwidth", 2 * GB, id="shared")], received_at=NOW
    )

    assert (result.accepted, result.duplicates) == (1, 0)
    assert (used(first, "bandwidth"), used(second, "bandwidth")) == (GB, 2 * GB)


def test_same_id_twice_in_one_batch_with_the_same_payload_is_recorded_once():
    account = personal_account()
    sent = event(account, "bandwidth", GB, id="twice")

    result = record_usage_events(events=[sent, sent], received_at=NOW)

    assert (result.accepted, result.duplicates) == (1, 1)
    assert used(account, "bandwidth") == GB


def test_empty_batch_is_rejected():
    with pytest.raises(InvalidRequest):
        record_usage_events(events=[], received_at=NOW)


def test_batch_of_a_thousand_events_is_accepted():
    account = personal_account()

    result = record_usage_events(
        events=[event(account, "transcoding", 1) for _ in range(1000)],
        received_at=NOW,
    )

    assert result.accepted == 1000
    assert used(account, "transcoding") == 1000


def test_batch_over_a_thousand_events_is_rejected_and_writes_nothing():
    account = personal_account()

    with pytest.raises(InvalidRequest):
        record_usage_events(
            events=[event(account, "transcoding", 1) for _ in range(1001)],
            received_at=NOW,
        )

    assert not UsageEvent.objects.exists()
    assert used(account, "transcoding") == 0


def test_resending_a_recorded_event_after_its_period_closed_is_still_a_duplicate():
    account = personal_account()
    late_march = datetime(2025, 3, 31, 23, 0, tzinfo=UTC)
    original = event(account, "bandwidth", GB, timestamp=late_march)
    record_usage_events(events=[original], received_at=late_march)
    close_billing_period(
        period=Period(date(2025, 3, 1)), at=datetime(2025, 4, 1, 1, tzinfo=UTC)
    )

    result = record_usage_events(events=[original], received_at=NOW)

    assert (result.accepted, result.duplicates) == (0, 1)
    assert UsageEvent.objects.count() == 1
