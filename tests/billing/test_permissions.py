"""Each billing staff power needs its own permission, in the service and in admin.

Per power: staff without the permission are refused by the service (and
the admin route does nothing or answers 403); staff holding only that
permission succeed. ``None`` is the system and passes.
"""

import pytest
from django.test import Client
from django.urls import reverse

from billing.errors import InvalidRequest, MissingPermission, PermissionDenied
from billing.models import Account, AuditEntry, ChargeRecord, Grant, Pack
from billing.permissions import check_staff_power, holds_staff_power
from billing.services.accounts import claim_company_account, set_account_block
from billing.services.packs import (
    create_adjustment_grant,
    purchase_pack,
    refund_charge,
    revoke_grant,
)
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
        user=owner_of(account),
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
    assert holds_staff_power(StaffUserFactory(perms=[REFUND]), REFUND)
    assert holds_staff_power(UserFactory(is_staff=True, is_superuser=True), REFUND)
    assert not holds_staff_power(StaffUserFactory(perms=[ADJUST]), REFUND)
    assert not holds_staff_power(StaffUserFactory(), REFUND)
    assert not holds_staff_power(
        StaffUserFactory(perms=[REFUND], is_active=False), REFUND
    )
    # The permission without staff status is not a staff power.
    assert not holds_staff_power(
        StaffUserFactory(perms=[REFUND], is_staff=False), REFUND
    )
    check_staff_power(None, REFUND)  # the system


def test_the_refusal_is_a_forbidden_domain_error_naming_the_permission():
    with pytest.raises(MissingPermission) as excinfo:
        check_staff_power(StaffUserFactory(), REFUND)
    error = excinfo.value
    assert isinstance(error, PermissionDenied)
    assert (error.code, error.status, error.permission) == ("forbidden", 403, REFUND)
    assert REFUND in error.message


# billing.refund_charge ---------------------------------------------------------


def test_refunding_a_charge_needs_refund_charge():
    bought = _bought()
    for user in (StaffUserFactory(), StaffUserFactory(perms=[ADJUST])):
        with pytest.raises(MissingPermission):
            refund_charge(charge=bought.charge, staff_user=user)
    assert not ChargeRecord.objects.filter(refund_of=bought.charge).exists()
    assert not AuditEntry.objects.exists()

    refund_charge(charge=bought.charge, staff_user=StaffUserFactory(perms=[REFUND]))
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
        staff_user=user,
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
        revoke_grant(grant=grant, staff_user=StaffUserFactory(perms=[REFUND]))
    grant.refresh_from_db()
    assert grant.revoked_at is None

    assert revoke_grant(grant=grant, staff_user=StaffUserFactory(perms=[ADJUST]))
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
            account=account, owner=UserFactory(), staff_user=StaffUserFactory()
        )
    claim_company_account(
        account=account,
        owner=UserFactory(),
        staff_user=StaffUserFactory(perms=["billing.change_account"]),
    )
    account.refresh_from_db()
    assert account.company is not None
