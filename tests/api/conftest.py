"""An authenticated API client and helpers shared by the API tests."""

import json

import pytest
from django.test import Client

from billing.services.api_keys import create_api_key


class ApiClient:
    """Django's test client speaking JSON with a Bearer key (or none)."""

    def __init__(self, raw_key: str | None) -> None:
        headers = {"Authorization": f"Bearer {raw_key}"} if raw_key else {}
        self.client = Client(headers=headers)

    def _send(self, method: str, path: str, body=None, raw: str | bytes | None = None):
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        call = getattr(self.client, method)
        if data is None:
            return call(path)
        return call(path, data=data, content_type="application/json")

    def get(self, path: str):
        return self._send("get", path)

    def put(self, path: str, body=None, *, raw=None):
        return self._send("put", path, body, raw)

    def post(self, path: str, body=None, *, raw=None):
        return self._send("post", path, body, raw)

    def delete(self, path: str):
        return self._send("delete", path)

    def patch(self, path: str, body=None):
        return self._send("patch", path, body)


@pytest.fixture
def api_key(db):
    return create_api_key(name="tests")


@pytest.fixture
def api(api_key) -> ApiClient:
    return ApiClient(api_key.raw_key)


@pytest.fixture
def anonymous(db) -> ApiClient:
    return ApiClient(None)


def error_of(response) -> dict:
    """The envelope's inner object, after checking the envelope's shape."""
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    return body["error"]
