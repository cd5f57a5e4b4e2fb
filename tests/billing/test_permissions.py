"""Each billing staff power needs its own permission, in the service and in admin.

Per power: staff without the permission are refused by the service or
selector (and the admin route does nothing or answers 403); staff holding
only that permission succeed. ``None`` is the system: it passes only where
the service allows it, and it must be passed, never defaulted.
"""

import inspect
from datetime import UTC, date, datetime

import pytest
from django.test import Client
from django.urls import reverse

from billing import analytics
from billing.errors import InvalidRequest, MissingPermission, PermissionDenied
from billing.models import Account, AuditEntry, ChargeRecord, Grant, Pack
from billing.permissions import check_staff_power, holds_staff_power
from billing.services.accounts import claim_company_account, set_account_block
from billing.services.grants import create_adjustment_grant, revoke_grant
from billing.services.packs import purchase_pack
from billing.services.refunds import refund_charge
from billing.units import GB
from tests.factories.accounts import StaffUserFactory, UserFactory
from tests.factories.billing import (
    GrantFactory,
    PlatformAccountFactory,
    meter,
    owner_of,
    personal_account,
)

pytestmark = pytest.mark.django_db

REFUND = "billing.refund_charge"
ADJUST = "billing.adjust_grant"
BLOCK = "billing.block_account"


def _bought():
    account = personal_account()
    return purchase_pack(
        account=account,
        pack=Pack.objects.get(code="storage-50gb-once"),
        actor=owner_of(account),
        idempotency_key=f"k-{account.pk}",
    )


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _changelist(model: type) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")


def _post_action(client: Client, model: type, action: str, objs, **extra):
    data = {
        "action": action,
        "_selected_action": [o.pk for o in objs],
        "confirm": "yes",
        **extra,
    }
    return client.post(_changelist(model), data)


# The rule itself -------------------------------------------------------------


def test_only_active_staff_holding_the_permission_pass():
    def holds(user) -> bool:
        return holds_staff_power(actor=user, permission=REFUND)

    assert holds(StaffUserFactory(perms=[REFUND]))
    assert holds(UserFactory(is_staff=True, is_superuser=True))
    assert not holds(StaffUserFactory(perms=[ADJUST]))
    assert not holds(StaffUserFactory())
    assert not holds(StaffUserFactory(perms=[REFUND], is_active=False))
    # The permission without staff status is not a staff power.
    assert not holds(StaffUserFactory(perms=[REFUND], is_staff=False))
    assert not holds(None)


def test_the_system_passes_only_where_the_service_allows_it():
    check_staff_power(actor=None, permission=REFUND, allow_system=True)
    with pytest.raises(MissingPermission):
        check_staff_power(actor=None, permission=REFUND)  # closed by default


def test_a_service_called_without_its_actor_is_a_type_error_not_a_pass():
    grant = GrantFactory(account=personal_account(), meter=meter("storage"))
    with pytest.raises(TypeError):
        revoke_grant(grant=grant)  # the system must say None itself
    grant.refresh_from_db()
    assert grant.revoked_at is None


def test_the_refusal_is_a_forbidden_domain_error_naming_the_permission():
    with pytest.raises(MissingPermission) as excinfo:
        check_staff_power(actor=StaffUserFactory(), permission=REFUND)
    error = excinfo.value
    assert isinstance(error, PermissionDenied)
    assert (error.code, error.status, error.permission) == ("forbidden", 403, REFUND)
    assert REFUND in error.message


# billing.refund_charge ---------------------------------------------------------


def test_refunding_a_charge_needs_refund_charge():
    bought = _bought()
    for user in (StaffUserFactory(), StaffUserFactory(perms=[ADJUST])):
        with pytest.raises(MissingPermission):
            refund_charge(charge=bought.charge, actor=user)
    assert not ChargeRecord.objects.filter(refund_of=bought.charge).exists()
    assert not AuditEntry.objects.exists()

    refund_charge(charge=bought.charge, actor=StaffUserFactory(perms=[REFUND]))
    assert ChargeRecord.objects.filter(refund_of=bought.charge).exists()


def test_the_refund_action_posted_without_refund_charge_refunds_nothing():
    bought = _bought()
    viewer = _client(StaffUserFactory(perms=["billing.view_chargerecord"]))

    page = viewer.get(_changelist(ChargeRecord))
    response = _post_action(
        viewer, ChargeRecord, "refund_selected", [bought.charge], reason="x"
    )

    assert page.status_code == 200
    assert "refund_selected" not in page.content.decode()
    assert response.status_code in (200, 302)  # "no action selected"
    assert not ChargeRecord.objects.filter(refund_of=bought.charge).exists()


def test_the_refund_action_works_with_refund_charge():
    bought = _bought()
    refunder = _client(StaffUserFactory(perms=["billing.view_chargerecord", REFUND]))

    page = refunder.get(_changelist(ChargeRecord))
    _post_action(refunder, ChargeRecord, "refund_selected", [bought.charge], reason="x")

    assert "refund_selected" in page.content.decode()
    assert ChargeRecord.objects.filter(refund_of=bought.charge).exists()


# billing.adjust_grant ----------------------------------------------------------


def _adjust(account: Account, user) -> Grant:
    return create_adjustment_grant(
        account=account,
        meter=meter("storage"),
        amount=GB,
        reason="goodwill",
        actor=user,
    )


def test_adding_an_adjustment_grant_needs_adjust_grant():
    account = personal_account()
    with pytest.raises(MissingPermission):
        _adjust(account, StaffUserFactory(perms=[REFUND, "billing.add_grant"]))
    assert not Grant.objects.filter(account=account).exists()

    grant = _adjust(account, StaffUserFactory(perms=[ADJUST]))
    assert grant.source == Grant.Source.ADJUSTMENT


def test_revoking_a_grant_needs_adjust_grant():
    grant = GrantFactory(account=personal_account(), meter=meter("storage"))
    with pytest.raises(MissingPermission):
        revoke_grant(grant=grant, actor=StaffUserFactory(perms=[REFUND]))
    grant.refresh_from_db()
    assert grant.revoked_at is None

    assert revoke_grant(grant=grant, actor=StaffUserFactory(perms=[ADJUST]))
    grant.refresh_from_db()
    assert grant.revoked_at is not None


def test_the_add_grant_form_is_forbidden_without_adjust_grant():
    account = personal_account()
    form = {
        "account": account.pk,
        "meter": meter("storage").pk,
        "amount": "5 GB",
        "expires_at_0": "",
        "expires_at_1": "",
        "reason": "goodwill",
    }
    url = reverse("admin:billing_grant_add")
    # add_grant is Django's own permission: not enough for this power.
    without = _client(
        StaffUserFactory(perms=["billing.view_grant", "billing.add_grant"])
    )
    with_it = _client(StaffUserFactory(perms=["billing.view_grant", ADJUST]))

    assert without.post(url, form).status_code == 403
    assert not Grant.objects.filter(account=account).exists()
    assert with_it.post(url, form).status_code == 302
    assert Grant.objects.filter(account=account, amount=5 * GB).exists()


def test_the_revoke_action_needs_adjust_grant():
    grant = GrantFactory(account=personal_account(), meter=meter("storage"))
    viewer = _client(StaffUserFactory(perms=["billing.view_grant"]))
    revoker = _client(StaffUserFactory(perms=["billing.view_grant", ADJUST]))

    _post_action(viewer, Grant, "revoke_selected", [grant], reason="mistake")
    grant.refresh_from_db()
    assert grant.revoked_at is None

    _post_action(revoker, Grant, "revoke_selected", [grant], reason="mistake")
    grant.refresh_from_db()
    assert grant.revoked_at is not None


# billing.block_account ---------------------------------------------------------


def test_blocking_an_account_needs_block_account():
    account = personal_account()
    with pytest.raises(MissingPermission):
        set_account_block(
            account=account,
            blocked=True,
            actor=StaffUserFactory(perms=["billing.change_account"]),
            reason="fraud",
        )
    account.refresh_from_db()
    assert not account.hard_blocked

    blocker = StaffUserFactory(perms=[BLOCK])
    assert set_account_block(account=account, blocked=True, actor=blocker, reason="x")
    account.refresh_from_db()
    assert account.hard_blocked
    assert not set_account_block(
        account=account, blocked=True, actor=blocker, reason="x"
    )  # already blocked: nothing to do
    assert set_account_block(account=account, blocked=False, actor=blocker, reason="y")
    account.refresh_from_db()
    assert not account.hard_blocked


def test_a_block_needs_a_reason_and_a_person():
    account = personal_account()
    blocker = StaffUserFactory(perms=[BLOCK])
    with pytest.raises(InvalidRequest):
        set_account_block(account=account, blocked=True, actor=blocker, reason=" ")
    # No command blocks accounts: the system is not an actor here.
    with pytest.raises(MissingPermission):
        set_account_block(account=account, blocked=True, actor=None, reason="x")
    account.refresh_from_db()
    assert not account.hard_blocked


@pytest.mark.parametrize("action", ["block_selected", "unblock_selected"])
def test_the_block_actions_need_block_account(action):
    account = PlatformAccountFactory(hard_blocked=action == "unblock_selected")
    perms = ["billing.view_account", "billing.change_account"]
    editor = _client(StaffUserFactory(perms=perms))
    blocker = _client(StaffUserFactory(perms=[*perms, BLOCK]))

    assert action not in editor.get(_changelist(Account)).content.decode()
    _post_action(editor, Account, action, [account], reason="fraud")
    assert Account.objects.get(pk=account.pk).hard_blocked == (
        action == "unblock_selected"
    )

    assert action in blocker.get(_changelist(Account)).content.decode()
    _post_action(blocker, Account, action, [account], reason="fraud")
    assert Account.objects.get(pk=account.pk).hard_blocked == (
        action == "block_selected"
    )


def test_the_account_form_cannot_set_the_block_any_more():
    account = personal_account()
    editor = _client(
        StaffUserFactory(perms=["billing.view_account", "billing.change_account"])
    )
    url = reverse("admin:billing_account_change", args=[account.pk])

    page = editor.get(url).content.decode()
    editor.post(
        url,
        {
            "name": account.name,
            "plan": account.plan_id,
            "hard_blocked": "on",
            "user": account.user_id,
            "company": "",
            "external_id": "",
            "email": "",
        },
    )

    assert 'name="hard_blocked"' not in page
    account.refresh_from_db()
    assert not account.hard_blocked


# Claiming a platform company account: billing.change_account --------------------


def test_claiming_a_company_account_needs_change_account():
    account = PlatformAccountFactory(kind=Account.Kind.COMPANY, name="Umbrella")
    with pytest.raises(MissingPermission):
        claim_company_account(
            account=account, owner=UserFactory(), actor=StaffUserFactory()
        )
    claim_company_account(
        account=account,
        owner=UserFactory(),
        actor=StaffUserFactory(perms=["billing.change_account"]),
    )
    account.refresh_from_db()
    assert account.company is not None


# billing.view_analytics: the reports, not only the pages ----------------------

NOV = analytics.DateRange(date(2026, 11, 1), date(2026, 11, 30))
REPORTS = {
    "revenue_report": lambda viewer: analytics.revenue_report(
        viewer=viewer, period=NOV
    ),
    "recurring_revenue_cents": lambda viewer: analytics.recurring_revenue_cents(
        viewer=viewer, at=datetime(2026, 11, 30, tzinfo=UTC)
    ),
    "pack_popularity": lambda viewer: analytics.pack_popularity(
        viewer=viewer, period=NOV
    ),
    "usage_patterns": lambda viewer: analytics.usage_patterns(
        viewer=viewer, period=NOV
    ),
    "outstanding_balances": lambda viewer: analytics.outstanding_balances(
        viewer=viewer, at=datetime(2026, 11, 30, tzinfo=UTC)
    ),
}


@pytest.mark.parametrize("report", REPORTS.values(), ids=REPORTS.keys())
def test_each_analytics_report_needs_view_analytics(report):
    for viewer in (
        StaffUserFactory(perms=["store.view_payouts", "billing.view_chargerecord"]),
        StaffUserFactory(perms=["billing.view_analytics"], is_staff=False),
        UserFactory(),
        None,  # no system reader
    ):
        with pytest.raises(MissingPermission) as excinfo:
            report(viewer)
        assert excinfo.value.permission == "billing.view_analytics"

    report(StaffUserFactory(perms=["billing.view_analytics"]))  # no error


def test_every_public_analytics_report_takes_the_viewer():
    """A new report added without the check fails here."""
    public = {
        name
        for name, fn in inspect.getmembers(analytics, inspect.isfunction)
        if fn.__module__.startswith(f"{analytics.__name__}.")
        and not name.startswith("_")
    }
    assert public == set(REPORTS)
    for name in public:
        parameter = inspect.signature(getattr(analytics, name)).parameters["viewer"]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
        assert parameter.default is inspect.Parameter.empty
