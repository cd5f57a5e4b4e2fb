"""The checks every endpoint makes, in order: key 401, size 413, type 415, body 422."""

import json

import pytest
from django.test import Client

from billing.models import UsageEvent
from tests.factories.billing import PlatformAccountFactory

from .conftest import error_of

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/usage/events"
TOO_BIG = b"x" * (1024 * 1024 + 1)


def _event(**overrides) -> dict:
    return {"id": "e-1", "account": "acme", "meter": "bandwidth", "quantity": 10} | (
        overrides
    )


@pytest.fixture
def account():
    return PlatformAccountFactory(external_id="acme")


def _post(key: str | None, body: bytes, content_type: str):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return Client(headers=headers).post(EVENTS, data=body, content_type=content_type)


def test_a_caller_without_a_key_learns_nothing_about_its_body(account):
    response = _post(None, TOO_BIG, "text/plain")
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_size_is_checked_before_the_media_type(api_key, account):
    response = _post(api_key.raw_key, TOO_BIG, "text/plain")
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_a_json_body_sent_as_text_is_refused_with_415(api_key, account):
    body = json.dumps({"events": [_event()]}).encode()
    response = _post(api_key.raw_key, body, "text/plain")
    assert response.status_code == 415
    error = error_of(response)
    assert error["code"] == "unsupported_media_type"
    assert "application/json" in error["message"]
    assert not UsageEvent.objects.exists()


def test_the_media_type_is_checked_before_the_body(api_key, account):
    response = _post(api_key.raw_key, b"{not json", "application/x-www-form-urlencoded")
    assert response.status_code == 415


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON"]
)
def test_json_with_parameters_or_any_case_is_accepted(api_key, account, content_type):
    body = json.dumps({"events": [_event()]}).encode()
    response = _post(api_key.raw_key, body, content_type)
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 1


def test_requests_without_a_body_need_no_media_type(api, account):
    response = api.client.get("/api/v1/accounts/acme/quotas")
    assert response.status_code == 200
    # Even when they name one that would not do for a body.
    response = api.client.get("/api/v1/accounts/acme/quotas", CONTENT_TYPE="text/plain")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        '{"events": [{"id": "e-1", "account": "acme", "meter": "bandwidth",'
        ' "quantity": 10, "quantity": 999999}]}',
        '{"events": [], "events": [{"id": "e-1", "account": "acme",'
        ' "meter": "bandwidth", "quantity": 10}]}',
    ],
)
def test_a_key_given_twice_is_422_and_nothing_is_recorded(api, account, raw):
    response = api.post(EVENTS, raw=raw)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert "appears twice" in str(error["details"])
    assert not UsageEvent.objects.exists()


def test_a_duplicate_key_in_authorize_is_422(api, account):
    raw = '{"meter": "bandwidth", "quantity": 1, "meter": "storage"}'
    response = api.post("/api/v1/accounts/acme/authorize", raw=raw)
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_request"


def test_the_api_docs_stay_public(anonymous):
    assert anonymous.get("/api/v1/openapi.json").status_code == 200
    response = anonymous.get("/api/v1/docs")
    assert response.status_code == 200
    assert "default-src 'self'" in response["Content-Security-Policy"]


def test_a_chunked_body_on_a_server_that_cannot_read_it_is_411(api_key, account):
    """runserver hands over chunked input raw; reading it would hang."""
    response = Client(headers={"Authorization": f"Bearer {api_key.raw_key}"}).post(
        EVENTS,
        data=b"",
        content_type="application/json",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
    )
    assert response.status_code == 411
    assert error_of(response)["code"] == "length_required"


def test_a_body_nested_too_deeply_is_422(api, account):
    raw = '{"events": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = api.post(EVENTS, raw=raw)
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_request"


def test_an_unknown_url_is_404_whatever_its_body(anonymous):
    response = anonymous.client.post(
        "/api/v1/no/such/thing", data=TOO_BIG, content_type="text/plain"
    )
    assert response.status_code == 404
