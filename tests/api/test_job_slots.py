"""Job slots over HTTP: idempotent allocate (201/200), 409 at the limit, release."""

import pytest

from billing.models import Account, JobSlot
from tests.factories.billing import (
    JobSlotFactory,
    PlatformAccountFactory,
)

from .conftest import error_of

pytestmark = pytest.mark.django_db

SLOTS = "/api/v1/accounts/co-1/job-slots"


@pytest.fixture
def company():
    return PlatformAccountFactory(external_id="co-1", kind=Account.Kind.COMPANY)


def test_allocating_a_new_job_is_201(api, company):
    response = api.post(SLOTS, {"job_id": "job-1"})
    assert response.status_code == 201
    assert response.json() == {
        "job_id": "job-1",
        "status": "active",
        "used": 1,
        "limit": 2,
    }


def test_allocating_a_held_job_again_is_200_and_holds_one_slot(api, company):
    api.post(SLOTS, {"job_id": "job-1"})
    response = api.post(SLOTS, {"job_id": "job-1"})
    assert response.status_code == 200
    assert response.json()["used"] == 1
    assert company.job_slots.held().count() == 1


def test_allocating_past_the_limit_is_409_quota_exceeded(api, company):
    JobSlotFactory.create_batch(2, account=company)
    response = api.post(SLOTS, {"job_id": "extra-job"})
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "quota_exceeded"
    assert error["details"] == {"meter": "job_slots", "used": 2, "limit": 2}
    assert company.job_slots.active().count() == 2


def test_release_is_204_and_idempotent(api, company):
    api.post(SLOTS, {"job_id": "job-1"})
    first = api.delete(f"{SLOTS}/job-1")
    again = api.delete(f"{SLOTS}/job-1")
    assert (first.status_code, again.status_code) == (204, 204)
    assert first.content == b""
    assert company.job_slots.get().status == JobSlot.Status.RELEASED


def test_releasing_a_never_allocated_job_is_404(api, company):
    response = api.delete(f"{SLOTS}/never")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_listing_shows_held_slots_with_used_and_limit(api, company):
    api.post(SLOTS, {"job_id": "a"})
    api.post(SLOTS, {"job_id": "b"})
    api.delete(f"{SLOTS}/a")
    response = api.get(SLOTS)
    assert response.status_code == 200
    body = response.json()
    assert (body["used"], body["limit"]) == (1, 2)
    assert [(s["job_id"], s["status"]) for s in body["slots"]] == [("b", "active")]
    assert body["slots"][0]["allocated_at"]


@pytest.mark.parametrize("external_id", ["nobody", "personal"])
def test_unknown_and_personal_accounts_have_no_job_slots(api, external_id):
    PlatformAccountFactory(external_id="personal", kind=Account.Kind.USER)
    base = f"/api/v1/accounts/{external_id}/job-slots"
    for response in (
        api.get(base),
        api.post(base, {"job_id": "j"}),
        api.delete(f"{base}/j"),
    ):
        assert response.status_code == 404
        assert error_of(response)["code"] == "unknown_account"


@pytest.mark.parametrize("body", [{}, {"job_id": ""}, {"job_id": 5}, {"job": "x"}])
def test_a_bad_job_id_is_422(api, company, body):
    response = api.post(SLOTS, body)
    assert response.status_code == 422
    assert error_of(response)["details"][0]["field"] == "job_id"
