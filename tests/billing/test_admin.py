"""The staff admin: pages load, facts stay read-only, actions call services."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client, TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Company, User
from billing.models import (
    Account,
    Alert,
    AuditEntry,
    ChargeRecord,
    ClosedPeriod,
    GaugeLevel,
    Grant,
    JobSlot,
    Meter,
    OverageConsent,
    Pack,
    Purchase,
    TaxRate,
    UsageCounter,
    UsageEvent,
    UsageSnapshot,
)
from billing.selectors import account_quotas
from billing.services.api_keys import create_api_key
from billing.services.consents import give_overage_consent
from billing.services.documents import save_billing_details
from billing.services.job_slots import allocate_job_slot
from billing.services.packs import (
    create_adjustment_grant,
    purchase_pack,
    refund_charge,
)
from billing.services.snapshots import take_usage_snapshots
from billing.services.statements import issue_statements
from billing.services.usage import record_usage_event
from billing.units import GB, Period, period_of
from tests.factories.accounts import StaffUserFactory, UserFactory
from tests.factories.billing import (
    ChargeFactory,
    ConsentFactory,
    GrantFactory,
    PackFactory,
    PlatformAccountFactory,
    WebhookEndpointFactory,
    company_account,
    meter,
    owner_of,
    personal_account,
)

pytestmark = pytest.mark.django_db

# The populated fixture reads the clock many times; mid-month, they all
# fall in one day and one period.
MID_APRIL = datetime(2026, 4, 16, 12, tzinfo=UTC)


# Helpers -------------------------------------------------------------------


def url(model: type, view: str, *args: object) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def buy(account: Account, code: str = "storage-50gb-once", key: str = "k-1"):
    pack = Pack.objects.get(code=code)
    return purchase_pack(
        account=account, pack=pack, user=owner_of(account), idempotency_key=key
    )


def storage_limit(account: Account) -> int:
    return next(
        q.limit for q in account_quotas(account=account) if q.meter.code == "storage"
    )


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def run_action(client: Client, model: type, action: str, objs, **extra: str):
    """Post an admin action past its reason page, as a staff user would."""
    data = {
        "action": action,
        "_selected_action": [o.pk for o in objs],
        "confirm": "yes",
        **extra,
    }
    return client.post(url(model, "changelist"), data, follow=True)


@pytest.fixture
def populated() -> dict[str, object]:
    """At least one row of every model the admin shows."""
    WebhookEndpointFactory()  # the changes below queue deliveries to it
    person = personal_account()
    company = company_account()
    buy(person)
    buy(company, code="slots-5-once", key="k-slots")
    allocate_job_slot(account=company, job_ref="job-1")
    GrantFactory(account=person, meter=meter("bandwidth"))
    ChargeFactory(account=person)
    ConsentFactory(account=person)
    with TestCase.captureOnCommitCallbacks(execute=True):  # the alert task
        record_usage_event(
            event_id="e-1", account=person, meter="bandwidth", quantity=int(5.5 * GB)
        )
    record_usage_event(event_id="e-2", account=person, meter="storage", quantity=GB)
    # Snapshot today as if the day were over: the accounts are new today.
    take_usage_snapshots(
        day=timezone.now().date(), now=timezone.now() + timedelta(days=1)
    )
    ClosedPeriod.objects.create(
        period_start=period_of(timezone.now()).previous().previous().start
    )
    PlatformAccountFactory()
    create_api_key(name="ops")
    _adjust(company)  # an audit entry
    assert Alert.objects.exists()  # 5.5 of 6 GB bandwidth: the 80% alert
    assert UsageSnapshot.objects.exists()
    _documents()
    return {"person": person, "company": company}


def _documents() -> None:
    """A rate, billing details, a credit note and a statement."""
    TaxRate.objects.create(country="IE", rate_percent=23, valid_from=date(2020, 1, 1))
    account = personal_account()
    save_billing_details(
        account=account, user=owner_of(account), legal_name="Documents Ltd"
    )
    refund_charge(charge=buy(account, key="k-doc").charge, staff_user=None)
    # A month named outright, so the statement is the same on any day.
    march = Period(date(2025, 3, 1))
    ChargeFactory(account=account, created_at=march.starts_at)
    issue_statements(period=march, now=datetime(2025, 4, 2, tzinfo=UTC))


def _adjust(account: Account) -> None:
    """A staff adjustment grant: one more grant and one audit entry."""
    create_adjustment_grant(
        account=account,
        meter=meter("storage"),
        amount=GB,
        reason="goodwill",
        staff_user=StaffUserFactory(perms=["billing.adjust_grant"]),
    )


def registered_models() -> list[type]:
    return [
        model
        for model in admin.site._registry
        if model._meta.app_label in {"accounts", "billing"}
    ]


# Every page loads ------------------------------------------------------------


# Shown inside another model's pages, or bookkeeping with nothing to read:
# attempts are listed on their delivery; a quota notice only remembers what
# the platform was last told.
NOT_REGISTERED = {"billing.webhookattempt", "billing.quotanotice"}


def test_every_model_of_accounts_and_billing_is_registered():
    expected = {
        model
        for label in ("accounts", "billing")
        for model in apps.get_app_config(label).get_models()
        if model._meta.label_lower not in NOT_REGISTERED
    }
    assert expected <= set(admin.site._registry)


@pytest.mark.parametrize(
    "model", registered_models(), ids=lambda m: m._meta.label_lower
)
@pytest.mark.time_machine(MID_APRIL)
def test_changelist_and_change_page_load_for_a_superuser(
    admin_client, populated, model
):
    changelist = admin_client.get(url(model, "changelist"))
    assert changelist.status_code == 200

    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"no {model.__name__} in the fixture"
    change = admin_client.get(url(model, "change", obj.pk))
    assert change.status_code == 200

    model_admin = admin.site._registry[model]
    if model_admin.has_add_permission(change.wsgi_request):
        assert admin_client.get(url(model, "add")).status_code == 200


@pytest.mark.parametrize(
    "query", ["acme", "acct_", "user", "example.com"], ids=lambda q: q
)
@pytest.mark.time_machine(MID_APRIL)
def test_account_search_runs_over_names_ids_and_emails(admin_client, populated, query):
    response = admin_client.get(url(Account, "changelist"), {"q": query})
    assert response.status_code == 200


@pytest.mark.time_machine(MID_APRIL)
def test_no_changelist_does_more_queries_with_more_rows(admin_client, populated):
    """The N+1 guard for every model: ten more of everything, same count."""

    def counts() -> dict[str, int]:
        result = {}
        for model in registered_models():
            with CaptureQueriesContext(connection) as queries:
                assert admin_client.get(url(model, "changelist")).status_code == 200
            result[model._meta.label] = len(queries)
        return result

    before = counts()
    for i in range(10):
        buy(personal_account(), key=f"more-{i}")
        buy(company_account(), code="slots-5-once", key=f"more-slots-{i}")
        GrantFactory()
        ChargeFactory()
        _adjust(personal_account())
    assert counts() == before


def test_a_non_staff_user_is_sent_to_the_admin_login(client):
    client.force_login(UserFactory())
    response = client.get(url(Account, "changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# Users and companies ---------------------------------------------------------


def test_adding_a_user_by_email_gives_them_a_billing_account(admin_client):
    response = admin_client.post(
        url(User, "add"),
        {
            "email": "New.Person@Example.com",
            "name": "New Person",
            "usable_password": "true",
            "password1": "a-long-pass-phrase",
            "password2": "a-long-pass-phrase",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="new.person@example.com")
    assert user.check_password("a-long-pass-phrase")
    assert user.billing_account.kind == Account.Kind.USER


def test_a_second_user_with_the_same_email_in_another_case_is_refused(admin_client):
    UserFactory(email="taken@example.com")
    response = admin_client.post(
        url(User, "add"),
        {
            "email": "TAKEN@example.com",
            "usable_password": "false",
        },
    )
    assert response.status_code == 200
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1


def test_user_change_page_saves_the_name(admin_client):
    user = UserFactory()
    response = admin_client.post(
        url(User, "change", user.pk),
        {
            "email": user.email,
            "name": "Renamed",
            "is_active": "on",
            "date_joined_0": "2025-01-01",
            "date_joined_1": "10:00:00",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.name == "Renamed"


def test_company_with_an_owner_is_added_with_its_membership_inline(admin_client):
    owner = UserFactory()
    response = admin_client.post(
        url(Company, "add"),
        {
            "name": "Initech",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-user": owner.pk,
            "memberships-0-role": "owner",
        },
    )
    assert response.status_code == 302
    company = Company.objects.get(name="Initech")
    assert company.memberships.get().user == owner
    assert company.billing_account.kind == Account.Kind.COMPANY


# Accounts ----------------------------------------------------------------------


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
            user=account.user,
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


# Charges -----------------------------------------------------------------------


def test_refund_action_adds_a_negative_row_and_revokes_the_grants(admin_client):
    account = personal_account()
    bought = buy(account)
    assert storage_limit(account) == 52 * GB

    response = run_action(
        admin_client,
        ChargeRecord,
        "refund_selected",
        [bought.charge],
        reason="customer asked",
    )

    refund = ChargeRecord.objects.get(refund_of=bought.charge)
    assert refund.kind == ChargeRecord.Kind.REFUND
    assert refund.amount_cents == -bought.charge.amount_cents == -2000
    assert refund.created_by.email == "admin@example.com"
    assert refund.customer_reason == "customer asked"
    bought.purchase.refresh_from_db()
    assert bought.purchase.status == Purchase.Status.REFUNDED
    assert not bought.purchase.grants.filter(revoked_at__isnull=True).exists()
    assert storage_limit(account) == 2 * GB
    assert any("refunded $20.00" in text for text in message_texts(response))


def test_refund_action_first_asks_for_a_reason_and_changes_nothing(admin_client):
    bought = buy(personal_account())

    response = admin_client.post(
        url(ChargeRecord, "changelist"),
        {
            "action": "refund_selected",
            "_selected_action": [bought.charge.pk],
            "index": "0",
        },
    )

    assert response.status_code == 200
    assert 'name="reason"' in response.content.decode()
    assert not ChargeRecord.objects.filter(refund_of=bought.charge).exists()


def test_refund_without_a_reason_is_asked_again(admin_client):
    bought = buy(personal_account())

    response = run_action(
        admin_client, ChargeRecord, "refund_selected", [bought.charge]
    )

    assert "This field is required" in response.content.decode()
    assert not ChargeRecord.objects.filter(refund_of=bought.charge).exists()


def test_refunding_twice_reports_an_error_and_adds_nothing(admin_client):
    bought = buy(personal_account())
    run_action(
        admin_client, ChargeRecord, "refund_selected", [bought.charge], reason="x"
    )
    rows = ChargeRecord.objects.count()

    response = run_action(
        admin_client, ChargeRecord, "refund_selected", [bought.charge], reason="again"
    )

    assert ChargeRecord.objects.count() == rows
    errors = [
        str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "error"
    ]
    assert errors == [f"{bought.charge}: This charge was already refunded or voided."]


def test_refunding_a_refund_row_is_refused(admin_client):
    bought = buy(personal_account())
    run_action(
        admin_client, ChargeRecord, "refund_selected", [bought.charge], reason="x"
    )
    refund = ChargeRecord.objects.get(refund_of=bought.charge)

    response = run_action(
        admin_client, ChargeRecord, "refund_selected", [refund], reason="x"
    )

    assert any("cannot be refunded" in text for text in message_texts(response))
    assert ChargeRecord.objects.filter(refund_of=refund).count() == 0


def test_charge_change_page_is_read_only(admin_client):
    charge = buy(personal_account()).charge

    page = admin_client.get(url(ChargeRecord, "change", charge.pk))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="_save"' not in html
    assert "$20.00" in html

    post = admin_client.post(
        url(ChargeRecord, "change", charge.pk),
        {"amount_cents": "1", "status": "void", "description": "edited"},
    )
    assert post.status_code == 403
    charge.refresh_from_db()
    assert (charge.amount_cents, charge.status) == (2000, ChargeRecord.Status.PAID)


def test_charges_cannot_be_added_or_deleted(admin_client):
    charge = ChargeFactory()
    assert admin_client.get(url(ChargeRecord, "add")).status_code == 403
    assert admin_client.get(url(ChargeRecord, "delete", charge.pk)).status_code == 403
    response = admin_client.get(url(ChargeRecord, "changelist"))
    assert "delete_selected" not in response.content.decode()


def test_a_view_only_staff_user_sees_charges_but_cannot_refund():
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_chargerecord"))
    bought = buy(personal_account())
    client = Client()
    client.force_login(staff)

    page = client.get(url(ChargeRecord, "changelist"))
    assert page.status_code == 200
    assert "refund_selected" not in page.content.decode()

    run_action(client, ChargeRecord, "refund_selected", [bought.charge], reason="x")
    assert not ChargeRecord.objects.filter(refund_of=bought.charge).exists()


def test_charge_changelist_filters_and_searches(admin_client):
    ChargeFactory(description="needle in the ledger")
    ChargeFactory(description="other")

    found = admin_client.get(url(ChargeRecord, "changelist"), {"q": "needle"})
    assert "needle in the ledger" in found.content.decode()
    assert ">other<" not in found.content.decode()

    filtered = admin_client.get(
        url(ChargeRecord, "changelist"),
        {"kind__exact": "refund", "status__exact": "paid"},
    )
    assert filtered.status_code == 200
    assert "needle" not in filtered.content.decode()


def test_charge_changelist_does_no_query_per_row(
    admin_client, django_assert_max_num_queries
):
    accounts = [personal_account() for _ in range(4)]
    for i in range(5):
        for account in accounts:
            buy(account, key=f"k-{account.pk}-{i}")
    for account in accounts:  # refunds render a link to their original
        charge = account.charges.first()
        run_action(admin_client, ChargeRecord, "refund_selected", [charge], reason="r")
    assert ChargeRecord.objects.count() >= 24

    with django_assert_max_num_queries(10):
        response = admin_client.get(url(ChargeRecord, "changelist"))
    assert response.status_code == 200


# Grants --------------------------------------------------------------------------


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


# Packs ---------------------------------------------------------------------------


def test_pack_add_with_an_allowance_line(admin_client):
    response = admin_client.post(
        url(Pack, "add"),
        {
            "code": "storage-200gb-once",
            "name": "Storage +200 GB",
            "description": "",
            "category": "capacity",
            "kind": "one_time",
            "price_cents": "6000",
            "term_days": "365",
            "is_active": "on",
            "allowances-TOTAL_FORMS": "1",
            "allowances-INITIAL_FORMS": "0",
            "allowances-MIN_NUM_FORMS": "1",
            "allowances-MAX_NUM_FORMS": "1000",
            "allowances-0-meter": meter("storage").pk,
            "allowances-0-amount": str(200 * GB),
        },
    )

    assert response.status_code == 302
    pack = Pack.objects.get(code="storage-200gb-once")
    line = pack.allowances.get()
    assert (line.meter.code, line.amount) == ("storage", 200 * GB)

    listing = admin_client.get(url(Pack, "changelist"))
    assert "$60.00" in listing.content.decode()
    assert "Storage 200.0 GB" in listing.content.decode()


def test_a_pack_needs_at_least_one_allowance_line(admin_client):
    response = admin_client.post(
        url(Pack, "add"),
        {
            "code": "empty",
            "name": "Empty",
            "category": "capacity",
            "kind": "one_time",
            "price_cents": "100",
            "term_days": "365",
            "allowances-TOTAL_FORMS": "0",
            "allowances-INITIAL_FORMS": "0",
            "allowances-MIN_NUM_FORMS": "1",
            "allowances-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 200
    assert not Pack.objects.filter(code="empty").exists()


def test_pack_price_is_shown_as_money(admin_client):
    html = admin_client.get(url(Pack, "changelist")).content.decode()
    assert "$20.00" in html  # storage-50gb-once: 2000 cents
    assert "$300.00" in html  # slots-100-once


def test_deactivate_and_activate_actions_switch_the_catalogue(admin_client):
    packs = [PackFactory(lines={"storage": GB}) for _ in range(2)]

    admin_client.post(
        url(Pack, "changelist"),
        {"action": "deactivate", "_selected_action": [p.pk for p in packs]},
    )
    assert not Pack.objects.filter(
        pk__in=[p.pk for p in packs], is_active=True
    ).exists()

    admin_client.post(
        url(Pack, "changelist"),
        {"action": "activate", "_selected_action": [packs[0].pk]},
    )
    assert Pack.objects.get(pk=packs[0].pk).is_active
    assert not Pack.objects.get(pk=packs[1].pk).is_active


def test_is_active_is_editable_in_the_pack_list(admin_client):
    pack = PackFactory(lines={"storage": GB})
    changelist = admin_client.get(url(Pack, "changelist"), {"q": pack.code})
    assert 'name="form-0-is_active"' in changelist.content.decode()

    response = admin_client.post(
        url(Pack, "changelist") + f"?q={pack.code}",
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-MIN_NUM_FORMS": "0",
            "form-MAX_NUM_FORMS": "1000",
            "form-0-id": pack.pk,
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    pack.refresh_from_db()
    assert not pack.is_active


# Catalogue data that staff edit -----------------------------------------------------


def test_staff_can_add_a_meter_without_a_migration(admin_client):
    response = admin_client.post(
        url(Meter, "add"),
        {
            "code": "live_minutes",
            "name": "Live minutes",
            "unit": "second",
            "kind": "counter",
            "overage_price_cents": "2",
            "price_quantum": "60",
            "quantum_label": "minute",
            "display_order": "5",
        },
    )
    assert response.status_code == 302
    assert meter("live_minutes").kind == "counter"


@pytest.mark.time_machine(MID_APRIL)
def test_facts_are_read_only(admin_client, populated):
    for model in (
        UsageEvent,
        UsageCounter,
        GaugeLevel,
        UsageSnapshot,
        Purchase,
        OverageConsent,
    ):
        obj = model.objects.first()
        assert admin_client.get(url(model, "add")).status_code == 403, model
        page = admin_client.get(url(model, "change", obj.pk))
        assert 'name="_save"' not in page.content.decode(), model
        assert admin_client.post(url(model, "change", obj.pk), {}).status_code == 403
        assert admin_client.get(url(model, "delete", obj.pk)).status_code == 403


@pytest.mark.time_machine(MID_APRIL)
def test_dismiss_alert_action(admin_client, populated):
    alert = Alert.objects.first()

    admin_client.post(
        url(Alert, "changelist"),
        {"action": "dismiss_selected", "_selected_action": [alert.pk]},
    )

    alert.refresh_from_db()
    assert alert.dismissed_at is not None


def test_release_job_slot_action(admin_client):
    account = company_account()
    slot = allocate_job_slot(account=account, job_ref="job-9").slot

    admin_client.post(
        url(JobSlot, "changelist"),
        {"action": "release_selected", "_selected_action": [slot.pk]},
    )

    slot.refresh_from_db()
    assert slot.status == JobSlot.Status.RELEASED


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
