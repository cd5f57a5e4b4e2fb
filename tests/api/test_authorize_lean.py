"""authorize is answered by a lean view (no ninja dispatch, the key checked
by the statement that reads the facts). Every answer must be the one the
ninja operation gives: same status, headers and body, whatever the input,
and a caller without a live key learns 401 and nothing else."""

import pytest
from django.test import Client, override_settings

from billing.services.api_keys import create_api_key, revoke_api_key
from tests.factories.billing import PlatformAccountFactory

pytestmark = pytest.mark.django_db

JSON = "application/json"
LONG_ID = "x" * 65
OK = '{"meter": "bandwidth", "quantity": 5}'

# (account in the path, body, content type); None: no body.
INPUTS = [
    ("z-1", OK, JSON),
    ("z-1", OK, "application/json; charset=utf-8"),
    ("z-1", OK, "APPLICATION/JSON"),
    ("z-1", OK, "text/plain"),
    ("z-1", OK, ""),
    ("z-1", OK + " " * (1024 * 1024), JSON),
    ("z-1", OK[:-1], JSON),
    ("z-1", "\ufeff" + OK, JSON),
    ("z-1", b"\xff\xfe", JSON),
    ("z-1", "[1, 2]", JSON),
    ("z-1", '"x"', JSON),
    ("z-1", "null", JSON),
    ("z-1", "", JSON),
    ("z-1", "{}", JSON),
    ("z-1", '{"a": ' * 3000 + "1" + "}" * 3000, JSON),
    ("z-1", '{"meter": "bandwidth"}', JSON),
    ("z-1", '{"quantity": 3}', JSON),
    ("z-1", '{"meter": "bandwidth", "quantity": 5, "extra": 1}', JSON),
    ("z-1", '{"meter": "bandwidth", "meter": "storage", "quantity": 5}', JSON),
    ("z-1", '{"meter": "", "quantity": 5}', JSON),
    ("z-1", '{"meter": "a\\u0000b", "quantity": 5}', JSON),
    ("z-1", '{"meter": 5, "quantity": 5}', JSON),
    ("z-1", '{"meter": "' + "m" * 41 + '", "quantity": 5}', JSON),
    ("z-1", '{"meter": ["bandwidth"], "quantity": {"a": 1}}', JSON),
    *(
        ("z-1", '{"meter": "bandwidth", "quantity": ' + quantity + "}", JSON)
        for quantity in (
            "0",
            "-1",
            "1.5",
            "2.0",
            '"3"',
            "true",
            "null",
            "1000000000000000",
            "1000000000000001",
            "1e400",
            "99999999999999999999999999",
            "999999999999",
        )
    ),
    ("z-1", '{"meter": "storage", "quantity": 5}', JSON),
    ("z-1", '{"meter": "job_slots", "quantity": 5}', JSON),
    ("z-1", '{"meter": "lasers", "quantity": 5}', JSON),
    ("ghost", OK, JSON),
    ("ghost", '{"meter": "lasers", "quantity": 5}', JSON),
    ("a b", OK, JSON),
    (LONG_ID, OK, JSON),
    (LONG_ID, '{"meter": "bandwidth", "quantity": 0}', JSON),
    (LONG_ID, OK[:-1], JSON),
    (LONG_ID, "", JSON),
    (LONG_ID, "[1]", JSON),
]
METHODS = ["get", "put", "delete", "head", "options"]


def send(client: Client, method: str, account: str, body, content_type):
    path = f"/api/v1/accounts/{account}/authorize"
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, data=body, content_type=content_type)


def answer(response) -> tuple:
    headers = {
        name: response.headers.get(name)
        for name in ("Content-Type", "Allow", "Retry-After")
    }
    return response.status_code, headers, response.content


@pytest.fixture
def callers(db):
    key = create_api_key(name="lean").raw_key
    revoked = create_api_key(name="revoked")
    revoke_api_key(api_key=revoked.api_key)
    PlatformAccountFactory(external_id="z-1")
    tokens = {
        "live key": key,
        "revoked key": revoked.raw_key,
        "no key": None,
        "key too long": "k" * 201,
    }
    return {
        who: Client(
            # Served beside the browser site, CSRF must not apply.
            enforce_csrf_checks=True,
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )
        for who, token in tokens.items()
    }


def both(client: Client, *request) -> tuple[tuple, tuple]:
    lean = answer(send(client, *request))
    with override_settings(ROOT_URLCONF="tests.api.ninja_only_urls"):
        ninja = answer(send(client, *request))
    return lean, ninja


@pytest.mark.parametrize("account,body,content_type", INPUTS)
def test_every_post_gets_the_ninja_operations_answer(
    callers, account, body, content_type
):
    for who, client in callers.items():
        lean, ninja = both(client, "post", account, body, content_type)
        assert lean == ninja, who
        if who != "live key":
            assert lean[0] == 401, who


@pytest.mark.parametrize("method", METHODS)
def test_other_methods_get_the_ninja_operations_answer(callers, method):
    for who, client in callers.items():
        lean, ninja = both(client, method, "z-1", None, None)
        assert lean == ninja, who


def test_the_live_key_and_the_facts_come_from_one_statement(
    callers, django_assert_num_queries
):
    with django_assert_num_queries(1):
        response = callers["live key"].post(
            "/api/v1/accounts/z-1/authorize", OK, content_type=JSON
        )
    assert response.json() == {
        "allowed": True,
        "reason": None,
        "state": "ok",
        "remaining": 5 * 10**9 - 5,
    }
