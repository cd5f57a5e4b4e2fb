"""PUT /accounts/{id}, GET /accounts/{id}/quotas, POST /accounts/{id}/authorize."""

from datetime import UTC, datetime

import pytest

from billing.models import Account, UsageEvent
from billing.services.usage import record_usage_event
from billing.units import GB
from tests.factories.billing import OverageConsentFactory, PlatformAccountFactory, meter

from .conftest import error_of

pytestmark = pytest.mark.django_db

QUOTA_KEYS = {
    "meter",
    "unit",
    "used",
    "limit",
    "remaining",
    "percent",
    "state",
    "overage",
}


def test_put_creates_an_account_with_201(api):
    response = api.put(
        "/api/v1/accounts/usr_42", {"kind": "user", "name": "Ada", "email": "a@x.io"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["external_id"] == "usr_42"
    assert (body["kind"], body["name"], body["email"]) == ("user", "Ada", "a@x.io")
    assert body["plan"] == "free"
    assert Account.objects.filter(external_id="usr_42").count() == 1


def test_put_again_updates_with_200(api):
    api.put("/api/v1/accounts/co:7", {"kind": "company", "name": "Old"})
    response = api.put("/api/v1/accounts/co:7", {"kind": "company", "name": "New"})
    assert response.status_code == 200
    assert response.json()["name"] == "New"
    assert Account.objects.get(external_id="co:7").name == "New"


def test_an_accounts_kind_cannot_change(api):
    api.put("/api/v1/accounts/a1", {"kind": "user", "name": "A"})
    response = api.put("/api/v1/accounts/a1", {"kind": "company", "name": "A"})
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "robot", "name": "R"}, "kind"),
        ({"kind": "user"}, "name"),
        ({"kind": "user", "name": ""}, "name"),
        ({"kind": "user", "name": "N", "email": "not-an-email"}, "email"),
        ({"kind": "user", "name": 5}, "name"),
    ],
)
def test_put_schema_errors_are_422_with_per_field_details(api, body, field):
    response = api.put("/api/v1/accounts/a2", body)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert field in {d["field"] for d in error["details"]}
    assert not Account.objects.filter(external_id="a2").exists()


@pytest.mark.parametrize("external_id", ["has space", "x" * 65, "semi;colon", "é"])
def test_external_ids_outside_the_alphabet_are_422(api, external_id):
    response = api.put(f"/api/v1/accounts/{external_id}", {"kind": "user", "name": "N"})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert error["details"][0]["field"] == "external_id"


def test_longest_external_id_with_every_allowed_character_is_accepted(api):
    external_id = ("Az09_.:-" * 8)[:64]
    response = api.put(f"/api/v1/accounts/{external_id}", {"kind": "user", "name": "N"})
    assert response.status_code == 201


@pytest.mark.time_machine(datetime(2026, 4, 16, 12, tzinfo=UTC))
def test_quotas_list_every_meter_of_the_account(api):
    account = PlatformAccountFactory(external_id="q-1")
    record_usage_event(
        event_id="q-e1", account=account, meter="bandwidth", quantity=4 * GB
    )
    response = api.get("/api/v1/accounts/q-1/quotas")
    assert response.status_code == 200
    body = response.json()
    assert body["account"] == "q-1"
    assert body["period_start"] < body["period_end"]
    quotas = {q["meter"]: q for q in body["quotas"]}
    assert set(quotas) == {"storage", "bandwidth", "transcoding"}  # no slots: user
    assert all(set(q) == QUOTA_KEYS for q in quotas.values())
    bandwidth = quotas["bandwidth"]
    assert bandwidth["unit"] == "byte"
    assert (bandwidth["used"], bandwidth["limit"]) == (4 * GB, 5 * GB)
    assert bandwidth["remaining"] == GB
    assert bandwidth["percent"] == 80.0
    assert bandwidth["state"] == "warning"
    assert bandwidth["overage"] == {
        "consent": False,
        "cap_cents": None,
        "accrued_cents": 0,
    }


@pytest.mark.time_machine(datetime(2026, 4, 16, 12, tzinfo=UTC))
def test_quotas_show_a_consent_and_accrued_overage(api):
    account = PlatformAccountFactory(external_id="q-2")
    OverageConsentFactory(account=account, meter=meter("bandwidth"), cap_cents=500)
    record_usage_event(
        event_id="q-e2", account=account, meter="bandwidth", quantity=6 * GB
    )
    bandwidth = {
        q["meter"]: q for q in api.get("/api/v1/accounts/q-2/quotas").json()["quotas"]
    }["bandwidth"]
    assert bandwidth["state"] == "overage"
    assert bandwidth["overage"] == {
        "consent": True,
        "cap_cents": 500,
        "accrued_cents": 9,
    }


def test_company_quotas_include_job_slots(api):
    PlatformAccountFactory(external_id="q-co", kind=Account.Kind.COMPANY)
    quotas = api.get("/api/v1/accounts/q-co/quotas").json()["quotas"]
    slots = next(q for q in quotas if q["meter"] == "job_slots")
    assert (slots["unit"], slots["used"], slots["limit"]) == ("slot", 0, 2)


def test_quotas_of_an_unknown_account_are_404(api):
    response = api.get("/api/v1/accounts/nobody/quotas")
    assert response.status_code == 404
    assert error_of(response)["code"] == "unknown_account"


def test_authorize_allows_within_the_limit_and_records_nothing(api):
    PlatformAccountFactory(external_id="z-1")
    response = api.post(
        "/api/v1/accounts/z-1/authorize", {"meter": "bandwidth", "quantity": GB}
    )
    assert response.status_code == 200
    assert response.json() == {
        "allowed": True,
        "reason": None,
        "state": "ok",
        "remaining": 4 * GB,
    }
    assert not UsageEvent.objects.exists()


def test_authorize_past_a_priced_limit_needs_overage_confirmation(api):
    PlatformAccountFactory(external_id="z-2")
    response = api.post(
        "/api/v1/accounts/z-2/authorize", {"meter": "bandwidth", "quantity": 6 * GB}
    )
    assert response.json() == {
        "allowed": False,
        "reason": "overage_confirmation_required",
        "state": "exceeded",
        "remaining": 5 * GB,
    }


def test_authorize_for_an_unknown_account_is_404(api):
    response = api.post(
        "/api/v1/accounts/ghost/authorize", {"meter": "bandwidth", "quantity": 1}
    )
    assert response.status_code == 404
    assert error_of(response)["code"] == "unknown_account"


def test_authorize_for_an_unknown_meter_is_422(api):
    PlatformAccountFactory(external_id="z-5")
    response = api.post(
        "/api/v1/accounts/z-5/authorize", {"meter": "lasers", "quantity": 1}
    )
    assert response.status_code == 422
    assert error_of(response)["code"] == "unknown_meter"


@pytest.mark.parametrize("quantity", [0, -1, 1.5, "3", None, True])
def test_authorize_needs_a_positive_integer_quantity(api, quantity):
    PlatformAccountFactory(external_id="z-6")
    response = api.post(
        "/api/v1/accounts/z-6/authorize", {"meter": "bandwidth", "quantity": quantity}
    )
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert error["details"][0]["field"] == "quantity"
