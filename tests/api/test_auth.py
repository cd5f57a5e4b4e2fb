"""API keys: Bearer only, hashed at rest, revoked at once; no session, no CSRF."""

import pytest
from django.core.management import call_command
from django.test import Client

from billing.models import ApiKey
from billing.services.api_keys import create_api_key, revoke_api_key
from tests.factories.accounts import UserFactory
from tests.factories.billing import PlatformAccountFactory

from .conftest import ApiClient, error_of

pytestmark = pytest.mark.django_db

QUOTAS = "/api/v1/accounts/acct-auth/quotas"


@pytest.fixture(autouse=True)
def _account():
    PlatformAccountFactory(external_id="acct-auth")


def test_a_valid_key_is_accepted(api):
    assert api.get(QUOTAS).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer mk_not-a-key",
        "Basic dXNlcjpwdw==",
        "mk_raw-without-scheme",
    ],
)
def test_missing_or_invalid_keys_get_401_with_the_envelope(header):
    client = Client(headers={"Authorization": header} if header else {})
    response = client.get(QUOTAS)
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_a_revoked_key_gets_401_on_the_very_next_call(api, api_key):
    assert api.get(QUOTAS).status_code == 200
    assert revoke_api_key(api_key=api_key.api_key) is True
    response = api.get(QUOTAS)
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert revoke_api_key(api_key=api_key.api_key) is False  # idempotent


def test_only_a_hash_and_a_prefix_are_stored():
    issued = create_api_key(name="upload-service")
    row = ApiKey.objects.get(pk=issued.api_key.pk)
    assert issued.raw_key not in {row.key_hash, row.prefix, row.name}
    assert row.key_hash == ApiKey.hash_key(issued.raw_key)
    assert len(row.key_hash) == 64
    assert issued.raw_key.startswith(row.prefix)
    assert len(issued.raw_key) >= 40  # 256 random bits


def test_a_staff_session_cookie_is_not_an_api_credential():
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    response = client.get(QUOTAS)
    assert response.status_code == 401


def test_key_authenticated_writes_need_no_csrf_token(api_key):
    client = Client(
        enforce_csrf_checks=True,
        headers={"Authorization": f"Bearer {api_key.raw_key}"},
    )
    response = client.put(
        "/api/v1/accounts/csrf-free",
        data='{"kind": "user", "name": "No CSRF"}',
        content_type="application/json",
    )
    assert response.status_code == 201


def test_the_command_prints_the_key_once_and_stores_its_hash(capsys):
    call_command("create_api_key", "billing-worker")
    out, err = capsys.readouterr()
    raw_key = out.strip()
    key = ApiKey.objects.get(name="billing-worker")
    assert key.key_hash == ApiKey.hash_key(raw_key)
    assert raw_key not in err
    assert ApiClient(raw_key).get(QUOTAS).status_code == 200
