"""Billing accounts in the admin: the quota table, edits and the block on
record, the claim for a company.
"""

from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from accounts.models import User
from billing.models import (
    Account,
    AuditEntry,
)
from billing.selectors import account_quotas
from billing.services.consents import give_overage_consent
from billing.services.usage import record_usage_event
from billing.units import GB
from tests.factories.billing import (
    PlatformAccountFactory,
    company_account,
    meter,
    personal_account,
)

from .helpers import (
    MID_APRIL,
    history,
    run_action,
    url,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "query", ["acme", "acct_", "user", "example.com"], ids=lambda q: q
)
@pytest.mark.time_machine(MID_APRIL)
def test_account_search_runs_over_names_ids_and_emails(admin_client, populated, query):
    response = admin_client.get(url(Account, "changelist"), {"q": query})
    assert response.status_code == 200


def test_account_change_page_shows_the_quota_table(admin_client):
    account = personal_account()
    record_usage_event(event_id="e-1", account=account, meter="storage", quantity=GB)

    response = admin_client.get(url(Account, "change", account.pk))

    html = response.content.decode()
    assert 'class="quota-table"' in html
    assert "<td>Storage</td><td>1.0 GB</td><td>2.0 GB</td><td>1.0 GB</td>" in html
    assert "<td>50.0%</td>" in html
    assert "<strong>ok</strong>" in html
    assert "Bandwidth" in html and "Transcoding" in html


def test_account_page_shows_staff_the_unbilled_and_billable_overage(
    admin_client, admin_user
):
    account = personal_account()
    with time_machine.travel(datetime(2027, 3, 2, tzinfo=UTC), tick=False):
        record_usage_event(
            event_id="before", account=account, meter="bandwidth", quantity=7 * GB
        )
    with time_machine.travel(datetime(2027, 3, 3, tzinfo=UTC), tick=False):
        give_overage_consent(
            account=account,
            meter=meter("bandwidth"),
            cap_cents=500,
            recurring=False,
            actor=account.user,
        )
        record_usage_event(
            event_id="after", account=account, meter="bandwidth", quantity=GB
        )
        admin_client.force_login(admin_user)  # a session from the real clock
        html = admin_client.get(url(Account, "change", account.pk)).content.decode()

    # 2 GB before the consent: 18c never billed; 1 GB after it: 9c billable.
    assert "$0.09 billable of $5.00 cap; $0.18 unbilled" in html


def test_the_account_form_saves_edits_on_record_but_never_the_hard_block(
    admin_client, admin_user
):
    account = personal_account()
    old_name = account.name
    response = admin_client.post(
        url(Account, "change", account.pk),
        {
            "name": "Renamed",
            "plan": account.plan_id,
            "hard_blocked": "on",  # read-only: the block actions switch it
            "user": account.user_id,
            "company": "",
            "external_id": "",
            "email": "",
        },
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.name, account.hard_blocked) == ("Renamed", False)
    entry = AuditEntry.objects.get(account=account)
    assert (entry.action, entry.actor) == ("account_changed", admin_user)
    assert (entry.before, entry.after) == ({"name": old_name}, {"name": "Renamed"})


def test_the_block_action_blocks_with_a_reason_on_record(admin_client):
    account = personal_account()
    run_action(admin_client, Account, "block_selected", [account], reason="fraud")
    account.refresh_from_db()
    assert account.hard_blocked
    assert {q.state for q in account_quotas(account=account)} == {"blocked"}
    assert AuditEntry.objects.get(account=account).reason == "fraud"
    assert history(account) == [f"{account}: blocked."]


def test_a_personal_account_cannot_be_given_a_company(admin_client):
    account = personal_account()
    other = company_account()
    other_company = other.company
    other.company = None  # free the one-to-one so only the kind rule applies
    other.kind = Account.Kind.USER
    other.save()

    response = admin_client.post(
        url(Account, "change", account.pk),
        {
            "name": account.name,
            "plan": account.plan_id,
            "user": "",
            "company": other_company.pk,
            "external_id": "",
            "email": "",
        },
    )

    assert response.status_code == 200
    assert "this one is personal" in response.content.decode()
    account.refresh_from_db()
    assert account.company_id is None


def test_accounts_are_not_added_or_deleted_in_admin(admin_client):
    account = personal_account()
    assert admin_client.get(url(Account, "add")).status_code == 403
    assert admin_client.get(url(Account, "delete", account.pk)).status_code == 403


def test_account_changelist_shows_owner_and_filters_by_kind(admin_client):
    person = personal_account(email="alice@example.com")
    company = company_account()

    response = admin_client.get(url(Account, "changelist"), {"kind__exact": "company"})

    html = response.content.decode()
    assert company.company.name in html
    assert "alice@example.com" not in html
    assert person.name not in html


def test_account_changelist_does_no_query_per_row(
    admin_client, django_assert_max_num_queries
):
    for _ in range(10):
        personal_account()
        company_account()
    PlatformAccountFactory()
    assert Account.objects.count() >= 21

    with django_assert_max_num_queries(10):
        response = admin_client.get(url(Account, "changelist"))
    assert response.status_code == 200


def test_claim_action_gives_a_platform_company_account_its_owner(admin_client):
    from billing.services.accounts import upsert_platform_account

    account, _ = upsert_platform_account(
        external_id="co_9", kind="company", name="Umbrella"
    )
    owner = User.objects.create_user(email="boss@umbrella.test", password="pw")
    url = reverse("admin:billing_account_changelist")
    form = {"action": "claim_for_company", "_selected_action": [account.pk]}

    asked = admin_client.post(url, form)
    unknown = admin_client.post(
        url, {**form, "confirm": "yes", "owner": "nobody@x.test"}
    )
    done = admin_client.post(url, {**form, "confirm": "yes", "owner": owner.email})

    assert "Owner&#x27;s e-mail" in asked.content.decode()
    assert "No active user has that e-mail." in unknown.content.decode()
    assert done.status_code == 302
    account.refresh_from_db()
    assert account.company.name == "Umbrella"
    assert account.company.memberships.get().user == owner
