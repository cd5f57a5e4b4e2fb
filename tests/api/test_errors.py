"""The error envelope for failures outside the handlers: 404, 405, 500; docs."""

import pytest

from billing.api import views
from tests.factories.billing import PlatformAccountFactory

from .conftest import error_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path", ["/api/v1/", "/api/v1/nope", "/api/v1/accounts", "/api/v1/usage/events/x"]
)
def test_unknown_urls_under_the_api_are_404_envelopes(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert error_of(response)["code"] == "not_found"


def test_unknown_urls_are_404_even_without_a_key(anonymous):
    response = anonymous.get("/api/v1/no/such/thing")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("patch", "/api/v1/accounts/a/job-slots", {"GET", "POST"}),
        ("get", "/api/v1/usage/events", {"POST"}),
        ("delete", "/api/v1/accounts/a", {"PUT"}),
        ("get", "/api/v1/accounts/a/authorize", {"POST"}),
    ],
)
def test_wrong_methods_are_405_envelopes_with_allow(api, method, path, allowed):
    response = getattr(api.client, method)(path)
    assert response.status_code == 405
    error = error_of(response)
    assert error["code"] == "method_not_allowed"
    assert set(error["details"]["allowed"]) == allowed
    assert {m.strip() for m in response["Allow"].split(",")} == allowed


def test_an_unexpected_failure_is_a_500_envelope(api, monkeypatch, caplog):
    """A failure below the API (here the clock) must still keep the envelope."""
    PlatformAccountFactory(external_id="boom")

    def broken_clock():
        raise RuntimeError("clock is broken")

    monkeypatch.setattr(views.timezone, "now", broken_clock)
    response = api.get("/api/v1/accounts/boom/quotas")
    monkeypatch.undo()
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal_error"
    assert "clock" not in error["message"]  # no internals leak
    assert "API request failed" in caplog.text


def test_openapi_document_lists_every_endpoint(anonymous):
    response = anonymous.get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
    } == {
        ("PUT", "/api/v1/accounts/{external_id}"),
        ("GET", "/api/v1/accounts/{external_id}/quotas"),
        ("POST", "/api/v1/accounts/{external_id}/authorize"),
        ("POST", "/api/v1/usage/events"),
        ("POST", "/api/v1/accounts/{external_id}/job-slots"),
        ("DELETE", "/api/v1/accounts/{external_id}/job-slots/{job_id}"),
        ("GET", "/api/v1/accounts/{external_id}/job-slots"),
    }
    schemes = response.json()["components"]["securitySchemes"]
    assert next(iter(schemes.values()))["scheme"] == "bearer"


def test_docs_page_is_served(anonymous):
    response = anonymous.get("/api/v1/docs")
    assert response.status_code == 200
    assert b"openapi.json" in response.content


def test_healthz_is_unauthenticated_json(anonymous):
    response = anonymous.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
