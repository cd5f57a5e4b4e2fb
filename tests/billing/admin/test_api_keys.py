"""API keys in the admin: the raw key shown once, on creation; revoked, never
deleted."""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.test import Client

from billing.models import ApiKey
from billing.services.api_keys import create_api_key
from tests.factories.billing import PlatformAccountFactory

pytestmark = pytest.mark.django_db

QUOTAS = "/api/v1/accounts/acct-admin/quotas"


def api_status(raw_key: str) -> int:
    """The API's answer to a call with this key."""
    client = Client(headers={"Authorization": f"Bearer {raw_key}"})
    return client.get(QUOTAS).status_code


def test_admin_creates_a_key_shows_it_once_and_revokes_it(admin_client):
    PlatformAccountFactory(external_id="acct-admin")
    response = admin_client.post(
        "/admin/billing/apikey/add/", {"name": "from-admin", "_save": "Save"}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get(name="from-admin")
    raw_key = response.context["raw_key"]
    assert raw_key.encode() in response.content
    assert key.key_hash == ApiKey.hash_key(raw_key)
    assert api_status(raw_key) == 200

    # The change page never shows the key again.
    page = admin_client.get(f"/admin/billing/apikey/{key.pk}/change/")
    assert page.status_code == 200
    assert raw_key.encode() not in page.content

    admin_client.post(
        "/admin/billing/apikey/",
        {"action": "revoke_selected", "_selected_action": [key.pk]},
    )
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_status(raw_key) == 401
    revoked = LogEntry.objects.get(object_id=str(key.pk), action_flag=CHANGE)
    assert revoked.get_change_message() == "Revoked."


def test_keys_are_revoked_not_deleted(admin_client):
    key = create_api_key(name="ops").api_key
    assert (
        admin_client.get(f"/admin/billing/apikey/{key.pk}/delete/").status_code == 403
    )
