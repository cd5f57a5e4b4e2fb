"""Grants in the admin: adjustments added through the service, revoked with
a reason, read-only once made.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from billing.models import (
    Account,
    Grant,
)
from billing.selectors import account_quotas
from billing.units import GB
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import (
    GrantFactory,
    company_account,
    meter,
    personal_account,
)

from .helpers import (
    buy,
    history,
    message_texts,
    run_action,
    storage_limit,
    url,
)

pytestmark = pytest.mark.django_db


def grant_form(account: Account, **overrides: str) -> dict[str, object]:
    return {
        "account": account.pk,
        "meter": meter("storage").pk,
        "amount": "10 GB",
        "reason": "goodwill for outage",
        "expires_at_0": "",
        "expires_at_1": "",
        **overrides,
    }


def test_the_add_grant_form_creates_an_adjustment_and_raises_the_limit(admin_client):
    account = personal_account()

    response = admin_client.post(url(Grant, "add"), grant_form(account))

    assert response.status_code == 302
    grant = Grant.objects.get(account=account)
    assert grant.source == Grant.Source.ADJUSTMENT
    assert grant.amount == 10 * GB
    assert grant.reason == "goodwill for outage"
    assert grant.expires_at is None
    assert grant.created_by.email == "admin@example.com"
    assert storage_limit(account) == 12 * GB


@pytest.mark.time_machine(datetime(2026, 4, 16, 12, tzinfo=UTC))
def test_the_add_grant_form_takes_base_units_and_an_expiry(admin_client):
    account = company_account()
    expires = timezone.now() + timedelta(days=10)

    admin_client.post(
        url(Grant, "add"),
        grant_form(
            account,
            meter=meter("job_slots").pk,
            amount="3",
            expires_at_0=expires.strftime("%Y-%m-%d"),
            expires_at_1=expires.strftime("%H:%M:%S"),
        ),
    )

    grant = Grant.objects.get(account=account)
    assert grant.amount == 3
    assert grant.expires_at.date() == expires.date()
    slots = next(
        q for q in account_quotas(account=account) if q.meter.code == "job_slots"
    )
    assert slots.limit == 2 + 3


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"reason": ""}, "This field is required"),
        ({"amount": "10 min"}, "Storage is counted in bytes"),
        ({"amount": "lots"}, "Write a number"),
        ({"amount": "0"}, "An adjustment adds a positive amount."),
    ],
    ids=["no-reason", "wrong-unit", "not-a-number", "zero"],
)
def test_the_add_grant_form_refuses_bad_input(admin_client, overrides, error):
    account = personal_account()

    response = admin_client.post(url(Grant, "add"), grant_form(account, **overrides))

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Grant.objects.filter(account=account).exists()


def test_the_service_refusing_a_past_expiry_keeps_the_form_on_screen(admin_client):
    account = personal_account()
    past = timezone.now() - timedelta(days=1)

    response = admin_client.post(
        url(Grant, "add"),
        grant_form(
            account,
            expires_at_0=past.strftime("%Y-%m-%d"),
            expires_at_1=past.strftime("%H:%M:%S"),
        ),
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "The expiry must be in the future." in html
    assert "goodwill for outage" in html  # what was typed is kept
    assert not Grant.objects.filter(account=account).exists()


def test_existing_grants_are_read_only(admin_client):
    grant = GrantFactory()

    page = admin_client.get(url(Grant, "change", grant.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()

    post = admin_client.post(
        url(Grant, "change", grant.pk), {"amount": "1", "consumed": "0"}
    )
    assert post.status_code == 403
    grant.refresh_from_db()
    assert grant.amount == 10**9
    assert admin_client.get(url(Grant, "delete", grant.pk)).status_code == 403


def test_revoke_action_ends_a_grant(admin_client):
    account = personal_account()
    grant = GrantFactory(account=account, amount=5 * GB)
    assert storage_limit(account) == 7 * GB

    response = run_action(
        admin_client, Grant, "revoke_selected", [grant], reason="granted by mistake"
    )

    grant.refresh_from_db()
    assert grant.revoked_at is not None
    assert grant.reason == "granted by mistake"
    assert storage_limit(account) == 2 * GB
    assert any("revoked" in text for text in message_texts(response))
    assert history(grant) == [f"{grant}: revoked."]


def test_revoking_a_revoked_grant_changes_nothing(admin_client):
    grant = GrantFactory(revoked=True)
    revoked_at = grant.revoked_at

    response = run_action(admin_client, Grant, "revoke_selected", [grant], reason="x")

    grant.refresh_from_db()
    assert grant.revoked_at == revoked_at
    assert any("already revoked" in text for text in message_texts(response))


@pytest.mark.parametrize(
    ("state", "expected"),
    [("active", "live"), ("expired", "old"), ("revoked", "gone")],
)
def test_grant_state_filter(admin_client, state, expected):
    GrantFactory(reason="live")
    GrantFactory(reason="old", expired=True)
    GrantFactory(reason="gone", revoked=True)

    response = admin_client.get(url(Grant, "changelist"), {"state": state})

    html = response.content.decode()
    shown = {r for r in ("live", "old", "gone") if f">{r}<" in html}
    assert shown == {expected}


def test_grant_changelist_does_no_query_per_row(
    admin_client, django_assert_max_num_queries
):
    for i in range(4):
        account = personal_account()
        buy(account, code="bandwidth-100gb-once", key=f"bw-{i}")
        GrantFactory.create_batch(4, account=account)
    assert Grant.objects.count() >= 20

    with django_assert_max_num_queries(10):
        response = admin_client.get(url(Grant, "changelist"))
    assert response.status_code == 200


def test_the_add_page_starts_from_the_account_it_was_opened_for(admin_client):
    account = personal_account()

    response = admin_client.get(url(Grant, "add"), {"account": account.pk})

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.initial["account"] == str(account.pk)
    assert not form.is_bound


def test_a_staff_user_without_the_grant_power_cannot_open_the_add_page(client):
    client.force_login(StaffUserFactory(perms=["billing.view_grant"]))

    assert client.get(url(Grant, "add")).status_code == 403
    assert client.post(url(Grant, "add"), {}).status_code == 403


def test_an_added_grant_is_on_the_admin_history(admin_client):
    account = personal_account()

    admin_client.post(url(Grant, "add"), grant_form(account))

    assert history(Grant.objects.get(account=account)) == ["Added."]
