"""POST /usage/events over HTTP: the counts answered, per-event codes as 422
details, schema errors and the body's limits. The batch rules themselves are
tested on the service (tests/billing/services/test_usage*.py)."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from billing.models import GaugeLevel, UsageCounter, UsageEvent
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


@pytest.mark.parametrize("quantity", [1.5, "12", True, None])
def test_a_quantity_of_another_json_type_is_the_per_event_code(api, quantity):
    """The schema leaves ``quantity`` untyped: the service's rule answers."""
    response = api.post(URL, {"events": [ev("ok-1"), ev("b", quantity)]})
    assert codes(response) == [(1, "invalid_quantity")]
    assert not UsageEvent.objects.exists()


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
