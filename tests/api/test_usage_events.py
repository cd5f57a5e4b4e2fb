"""POST /usage/events: atomic, idempotent batches and every per-event code."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from billing.models import GaugeLevel, UsageCounter, UsageEvent
from billing.services.periods import close_billing_period
from billing.units import GB, period_of
from tests.factories.billing import PlatformAccountFactory, meter

from .conftest import error_of

pytestmark = pytest.mark.django_db

URL = "/api/v1/usage/events"


@pytest.fixture(autouse=True)
def _accounts():
    PlatformAccountFactory(external_id="u-1")
    PlatformAccountFactory(external_id="c-1", kind="company")


def ev(id, quantity=GB, meter="bandwidth", account="u-1", **extra):
    return {"id": id, "account": account, "meter": meter, "quantity": quantity, **extra}


def codes(response) -> list[tuple[int, str]]:
    assert response.status_code == 422, response.content
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert all(set(d) == {"index", "code", "message"} for d in error["details"])
    return [(d["index"], d["code"]) for d in error["details"]]


@pytest.mark.time_machine(datetime(2026, 4, 16, 12, tzinfo=UTC))
def test_a_batch_is_recorded_and_counted(api):
    response = api.post(
        URL,
        {
            "events": [
                ev("e1", 2 * GB),
                ev("e2", 3 * GB, meter="storage", properties={"video": "v1"}),
                ev(
                    "e3",
                    60,
                    meter="transcoding",
                    timestamp="2026-04-01T00:00:00Z",  # the pinned month's start
                ),
            ]
        },
    )
    assert response.status_code == 200
    assert response.json() == {"accepted": 3, "duplicates": 0}
    assert UsageEvent.objects.count() == 3
    assert UsageEvent.objects.get(event_id="e2").properties == {"video": "v1"}
    assert GaugeLevel.objects.get(meter=meter("storage")).level == 3 * GB
    counter = UsageCounter.objects.get(meter=meter("bandwidth"))
    assert counter.used == 2 * GB
    assert counter.period_start == period_of(timezone.now()).start


def test_resending_the_same_batch_counts_duplicates_once(api):
    batch = {"events": [ev("d1"), ev("d2", 7)]}
    api.post(URL, batch)
    response = api.post(URL, batch)
    assert response.json() == {"accepted": 0, "duplicates": 2}
    assert UsageCounter.objects.get(meter=meter("bandwidth")).used == GB + 7


def test_same_id_with_another_payload_is_an_idempotency_conflict(api):
    api.post(URL, {"events": [ev("x1", 5)]})
    response = api.post(URL, {"events": [ev("x2"), ev("x1", 6)]})
    assert codes(response) == [(1, "idempotency_conflict")]
    assert not UsageEvent.objects.filter(event_id="x2").exists()


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (ev("b", account="nobody"), "unknown_account"),
        (ev("b", meter="lasers"), "unknown_meter"),
        (ev("b", 1, meter="job_slots", account="c-1"), "meter_not_event_based"),
        (ev("b", 0), "invalid_quantity"),
        (ev("b", 1.5), "invalid_quantity"),
        (ev("b", "12"), "invalid_quantity"),
        (ev("b", True), "invalid_quantity"),
        (ev("b", None), "invalid_quantity"),
        (ev("b", 10**15 + 1), "invalid_quantity"),
        (ev("b", -5), "invalid_quantity"),  # negative on a counter
        (ev("b", -1, meter="storage"), "negative_level"),
    ],
)
def test_each_per_event_code(api, event, code):
    response = api.post(URL, {"events": [ev("ok-1"), event]})
    assert codes(response) == [(1, code)]
    assert not UsageEvent.objects.exists()


def test_a_timestamp_more_than_five_minutes_ahead_is_future_timestamp(api):
    ahead = (timezone.now() + timedelta(minutes=6)).isoformat()
    response = api.post(URL, {"events": [ev("f1", timestamp=ahead)]})
    assert codes(response) == [(0, "future_timestamp")]


def test_a_timestamp_in_a_closed_period_is_period_closed(api):
    close_billing_period(
        period=period_of(datetime(2025, 3, 1, tzinfo=UTC)),
        now=datetime(2025, 4, 1, 1, tzinfo=UTC),
    )
    response = api.post(
        URL, {"events": [ev("p1", timestamp="2025-03-31T23:00:00+00:00")]}
    )
    assert codes(response) == [(0, "period_closed")]


def test_every_bad_index_is_listed_and_nothing_is_recorded(api):
    response = api.post(
        URL,
        {
            "events": [
                ev("m0"),
                ev("m1", account="nobody"),
                ev("m2"),
                ev("m3", meter="lasers"),
                ev("m4", 0),
            ]
        },
    )
    assert codes(response) == [
        (1, "unknown_account"),
        (3, "unknown_meter"),
        (4, "invalid_quantity"),
    ]
    assert not UsageEvent.objects.exists()
    assert not UsageCounter.objects.exists()


def test_a_batch_of_1000_is_accepted(api):
    response = api.post(URL, {"events": [ev(f"k{i}", 1) for i in range(1000)]})
    assert response.json() == {"accepted": 1000, "duplicates": 0}
    assert UsageCounter.objects.get(meter=meter("bandwidth")).used == 1000


@pytest.mark.parametrize("size", [0, 1001])
def test_batches_outside_1_to_1000_are_invalid_requests(api, size):
    response = api.post(URL, {"events": [ev(f"s{i}", 1) for i in range(size)]})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert error["details"][0]["field"] == "events"
    assert not UsageEvent.objects.exists()


def test_schema_errors_name_the_field_and_the_index(api):
    response = api.post(
        URL, {"events": [ev("ok"), {"id": 7, "account": "u-1", "meter": "bandwidth"}]}
    )
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_request"
    fields = {(d["index"], d["field"]) for d in error["details"]}
    assert fields == {(1, "events.1.id"), (1, "events.1.quantity")}


@pytest.mark.parametrize(
    "raw", ["{", "not json", '{"events": [', "\xff", "", "[]", '"events"', "null"]
)
def test_malformed_json_is_422_invalid_request(api, raw):
    response = api.post(URL, raw=raw)
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_request"


def test_a_bad_timestamp_is_a_schema_error(api):
    response = api.post(URL, {"events": [ev("t1", timestamp="yesterday")]})
    assert response.status_code == 422
    assert error_of(response)["details"][0]["field"] == "events.0.timestamp"


def test_a_body_over_one_mebibyte_is_413(api):
    filler = "x" * 1100
    batch = {"events": [ev(f"big{i}", properties={"f": filler}) for i in range(1000)]}
    response = api.post(URL, batch)
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"
    assert not UsageEvent.objects.exists()


def test_a_body_just_under_one_mebibyte_is_accepted(api):
    response = api.post(
        URL, {"events": [ev("near", properties={"f": "x" * (1024 * 1024 - 200)})]}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "event",
    [
        ev("nul\x00id"),
        ev("n1", account="u-\x001"),
        ev("n1", properties={"k": "v\x00"}),
        ev("n1", properties={"k\x00": 1}),
    ],
)
def test_nul_characters_are_schema_errors_not_database_errors(api, event):
    response = api.post(URL, {"events": [event]})
    assert response.status_code == 422
    assert error_of(response)["details"][0]["index"] == 0
    assert not UsageEvent.objects.exists()
