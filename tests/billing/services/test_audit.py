"""The audit trail: one entry per staff change, append-only, read in admin."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from billing.errors import MissingPermission
from billing.models import Account, AuditEntry, Meter, Pack, Plan
from billing.services.accounts import claim_company_account, set_account_block
from billing.services.grants import create_adjustment_grant, revoke_grant
from billing.services.packs import purchase_pack
from billing.services.refunds import refund_charge
from billing.units import GB
from tests.factories.accounts import StaffUserFactory, UserFactory
from tests.factories.billing import (
    ChargeRecordFactory,
    GrantFactory,
    PackFactory,
    PlatformAccountFactory,
    meter,
    owner_of,
    personal_account,
)

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 4, 16, 12, tzinfo=UTC)


def _staff(*perms: str):
    return StaffUserFactory(perms=list(perms))


def _only_entry(**filters) -> AuditEntry:
    (entry,) = AuditEntry.objects.filter(**filters)
    return entry


def _bought():
    account = personal_account()
    return purchase_pack(
        account=account,
        pack=Pack.objects.get(code="storage-50gb-once"),
        actor=owner_of(account),
        idempotency_key=f"k-{account.pk}",
    )


# Each power writes one entry -----------------------------------------------------


@pytest.mark.time_machine(NOON)
def test_a_refund_is_recorded_with_both_texts_and_the_revoked_grants():
    bought = _bought()
    staff = _staff("billing.refund_charge")
    grant_ids = list(bought.purchase.grants.values_list("pk", flat=True))

    with time_machine.travel(NOON, tick=False):
        refund = refund_charge(
            charge=bought.charge,
            actor=staff,
            amount_cents=500,
            customer_reason="Bought by mistake",
            staff_note="ticket 42",
        )

    entry = _only_entry()
    assert (entry.action, entry.actor, entry.at) == ("refund", staff, NOON)
    assert (entry.target_type, entry.target_id) == (
        "billing.chargerecord",
        str(bought.charge.pk),
    )
    assert entry.account == bought.charge.account
    assert entry.before == {"status": "paid", "amount_cents": 2000}
    assert entry.after == {
        "status": "paid",
        "refunded_cents": 500,
        "refund_id": refund.pk,
        "grants_revoked": grant_ids,
        "staff_note": "ticket 42",
    }
    assert entry.reason == "Bought by mistake"


def test_voiding_a_pending_charge_is_recorded_as_a_refund():
    charge = ChargeRecordFactory(account=personal_account(), status="pending")
    refund_charge(charge=charge, actor=None, customer_reason="never paid")
    entry = _only_entry(action="refund")
    assert entry.actor is None  # the system
    assert (entry.before["status"], entry.after["status"]) == ("pending", "void")
    assert entry.after["refunded_cents"] == 0


def test_an_adjustment_grant_is_recorded_with_its_reason():
    account = personal_account()
    staff = _staff("billing.adjust_grant")
    grant = create_adjustment_grant(
        account=account,
        meter=meter("storage"),
        amount=5 * GB,
        reason="goodwill, ticket 7",
        actor=staff,
    )
    entry = _only_entry()
    assert (entry.action, entry.actor, entry.account) == (
        "grant_adjusted",
        staff,
        account,
    )
    assert entry.target_id == str(grant.pk)
    assert entry.before is None
    assert entry.after["meter"] == "storage" and entry.after["amount"] == 5 * GB
    assert entry.reason == "goodwill, ticket 7"
    assert entry.at == grant.effective_at


def test_a_revocation_is_recorded_once():
    grant = GrantFactory(account=personal_account(), meter=meter("storage"))
    staff = _staff("billing.adjust_grant")
    revoke_grant(grant=grant, actor=staff, reason="granted twice")
    revoke_grant(grant=grant, actor=staff, reason="again")  # nothing to do
    grant.refresh_from_db()
    entry = _only_entry()
    assert (entry.action, entry.actor, entry.reason) == (
        "grant_revoked",
        staff,
        "granted twice",
    )
    assert entry.before["revoked_at"] is None
    assert entry.at == grant.revoked_at


def test_blocks_and_unblocks_are_recorded():
    account = personal_account()
    staff = _staff("billing.block_account")
    set_account_block(account=account, blocked=True, actor=staff, reason="fraud")
    set_account_block(account=account, blocked=True, actor=staff, reason="again")
    set_account_block(account=account, blocked=False, actor=staff, reason="cleared")
    entries = list(AuditEntry.objects.filter(account=account).order_by("pk"))
    assert [(e.action, e.before, e.after, e.reason) for e in entries] == [
        ("account_blocked", {"hard_blocked": False}, {"hard_blocked": True}, "fraud"),
        (
            "account_unblocked",
            {"hard_blocked": True},
            {"hard_blocked": False},
            "cleared",
        ),
    ]
    assert {e.actor for e in entries} == {staff}


def test_a_block_is_recorded_at_the_moment_it_takes_effect():
    account = personal_account()
    staff = _staff("billing.block_account")
    with pytest.raises(TypeError):  # no caller-chosen instant
        set_account_block(
            account=account,
            blocked=True,
            actor=staff,
            reason="fraud",
            at=datetime(2020, 1, 1, tzinfo=UTC),
        )
    with time_machine.travel(NOON, tick=False):
        set_account_block(account=account, blocked=True, actor=staff, reason="fraud")
    assert _only_entry().at == NOON


def test_a_claim_is_recorded():
    account = PlatformAccountFactory(kind=Account.Kind.COMPANY)
    owner = UserFactory()
    staff = _staff("billing.change_account")
    company = claim_company_account(account=account, owner=owner, actor=staff)
    entry = _only_entry()
    assert (entry.action, entry.actor) == ("account_claimed", staff)
    assert entry.after == {"company_id": company.pk, "owner": owner.email}


def test_a_refused_power_records_nothing():
    bought = _bought()
    with pytest.raises(MissingPermission):
        refund_charge(charge=bought.charge, actor=_staff())
    assert not AuditEntry.objects.exists()


# Catalogue edits in admin --------------------------------------------------------


def _lines_form(owner, *, fk: str, amounts: dict[str, int]) -> dict[str, object]:
    lines = list(owner.allowances.select_related("meter").order_by("pk"))
    data: dict[str, object] = {
        "allowances-TOTAL_FORMS": str(len(lines)),
        "allowances-INITIAL_FORMS": str(len(lines)),
        "allowances-MIN_NUM_FORMS": "0",
        "allowances-MAX_NUM_FORMS": "1000",
    }
    for i, line in enumerate(lines):
        data[f"allowances-{i}-id"] = line.pk
        data[f"allowances-{i}-{fk}"] = owner.pk
        data[f"allowances-{i}-meter"] = line.meter_id
        data[f"allowances-{i}-amount"] = amounts.get(line.meter.code, line.amount)
    return data


def _pack_form(pack: Pack, **changes: object) -> dict[str, object]:
    data = {
        "code": pack.code,
        "name": pack.name,
        "description": pack.description,
        "category": pack.category,
        "kind": pack.kind,
        "price_cents": pack.price_cents,
        "term_days": pack.term_days,
        **({"is_active": "on"} if pack.is_active else {}),
        **_lines_form(pack, fk="pack", amounts=changes.pop("amounts", {})),
    }
    data.update(changes)
    return data


def test_adding_a_pack_in_admin_is_recorded_with_its_lines(admin_client, admin_user):
    response = admin_client.post(
        reverse("admin:billing_pack_add"),
        {
            "code": "storage-1tb-once",
            "name": "Storage +1 TB",
            "category": "capacity",
            "kind": "one_time",
            "price_cents": "25000",
            "term_days": "365",
            "is_active": "on",
            "allowances-TOTAL_FORMS": "1",
            "allowances-INITIAL_FORMS": "0",
            "allowances-MIN_NUM_FORMS": "1",
            "allowances-MAX_NUM_FORMS": "1000",
            "allowances-0-meter": meter("storage").pk,
            "allowances-0-amount": str(1000 * GB),
        },
    )
    assert response.status_code == 302
    pack = Pack.objects.get(code="storage-1tb-once")
    entry = _only_entry()
    assert (entry.action, entry.actor, entry.target_id) == (
        "pack_created",
        admin_user,
        str(pack.pk),
    )
    assert entry.before is None
    assert entry.after["price_cents"] == 25000
    assert entry.after["allowances"] == {"storage": 1000 * GB}


def test_changing_a_pack_records_price_and_lines_before_and_after(admin_client):
    pack = PackFactory(lines={"storage": GB}, price_cents=1000)
    url = reverse("admin:billing_pack_change", args=[pack.pk])

    unchanged = admin_client.post(url, _pack_form(pack))
    assert unchanged.status_code == 302
    assert not AuditEntry.objects.exists()  # nothing changed, nothing recorded

    changed = admin_client.post(
        url, _pack_form(pack, price_cents=1500, amounts={"storage": 2 * GB})
    )
    assert changed.status_code == 302
    entry = _only_entry()
    assert entry.action == "pack_changed"
    assert entry.before == {"price_cents": 1000, "allowances": {"storage": GB}}
    assert entry.after == {"price_cents": 1500, "allowances": {"storage": 2 * GB}}
    assert pack.allowances.get().amount == 2 * GB


def test_taking_a_pack_off_sale_is_recorded(admin_client):
    pack = PackFactory(lines={"storage": GB})
    admin_client.post(
        reverse("admin:billing_pack_changelist"),
        {"action": "deactivate", "_selected_action": [pack.pk]},
    )
    entry = _only_entry()
    assert entry.action == "pack_changed"
    assert (entry.before, entry.after) == ({"is_active": True}, {"is_active": False})


def test_a_meter_price_change_is_recorded_but_not_its_display_order(admin_client):
    bandwidth = meter("bandwidth")
    url = reverse("admin:billing_meter_change", args=[bandwidth.pk])
    form = {
        "code": bandwidth.code,
        "name": bandwidth.name,
        "unit": bandwidth.unit,
        "kind": bandwidth.kind,
        "overage_price_cents": bandwidth.overage_price_cents,
        "price_quantum": bandwidth.price_quantum,
        "quantum_label": bandwidth.quantum_label,
        "display_order": bandwidth.display_order + 1,
    }
    assert admin_client.post(url, form).status_code == 302
    assert not AuditEntry.objects.exists()

    old_price = bandwidth.overage_price_cents
    form["overage_price_cents"] = old_price + 5
    assert admin_client.post(url, form).status_code == 302

    entry = _only_entry()
    assert (entry.action, entry.target_type) == ("price_changed", "billing.meter")
    assert entry.before == {"overage_price_cents": old_price}
    assert entry.after == {"overage_price_cents": old_price + 5}
    assert Meter.objects.get(pk=bandwidth.pk).overage_price_cents == old_price + 5


def test_a_plan_allowance_change_is_recorded(admin_client):
    plan = Plan.objects.get(code="free")
    storage = plan.allowances.get(meter__code="storage").amount
    form = {
        "code": plan.code,
        "name": plan.name,
        "is_default": "on",
        **_lines_form(plan, fk="plan", amounts={"storage": storage * 2}),
    }
    response = admin_client.post(
        reverse("admin:billing_plan_change", args=[plan.pk]), form
    )
    assert response.status_code == 302
    entry = _only_entry()
    assert (entry.action, entry.target_type) == ("price_changed", "billing.plan")
    assert entry.before["allowances"]["storage"] == storage
    assert entry.after["allowances"]["storage"] == storage * 2


def test_creating_a_meter_or_a_plan_is_recorded_as_a_creation(admin_client, admin_user):
    meter_form = {
        "code": "api-calls",
        "name": "API calls",
        "unit": meter("bandwidth").unit,
        "kind": meter("bandwidth").kind,
        "overage_price_cents": "10",
        "price_quantum": "1000",
        "quantum_label": "1,000 calls",
        "display_order": "9",
    }
    assert (
        admin_client.post(reverse("admin:billing_meter_add"), meter_form).status_code
        == 302
    )
    plan_form = {
        "code": "team",
        "name": "Team",
        "allowances-TOTAL_FORMS": "1",
        "allowances-INITIAL_FORMS": "0",
        "allowances-MIN_NUM_FORMS": "0",
        "allowances-MAX_NUM_FORMS": "1000",
        "allowances-0-meter": meter("storage").pk,
        "allowances-0-amount": str(20 * GB),
    }
    assert (
        admin_client.post(reverse("admin:billing_plan_add"), plan_form).status_code
        == 302
    )
    entries = list(AuditEntry.objects.order_by("pk"))
    assert [(e.action, e.target_type, e.before) for e in entries] == [
        ("meter_created", "billing.meter", None),
        ("plan_created", "billing.plan", None),
    ]
    assert {e.actor for e in entries} == {admin_user}
    assert entries[0].after["overage_price_cents"] == 10
    assert entries[1].after["allowances"] == {"storage": 20 * GB}


@pytest.mark.parametrize("model", [Pack, Plan, Meter], ids=lambda m: m.__name__)
def test_catalogue_rows_cannot_be_deleted_in_admin(admin_client, model):
    """A pack is taken off sale instead; meters and plans are referenced data."""
    obj = model.objects.order_by("pk").first()
    opts = model._meta
    delete = reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[obj.pk])
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")

    assert admin_client.get(delete).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert "delete_selected" not in admin_client.get(changelist).content.decode()
    admin_client.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"},
    )
    assert model.objects.filter(pk=obj.pk).exists()
    assert not AuditEntry.objects.exists()


def test_plan_and_pack_lines_are_not_edited_outside_their_owner(admin_client):
    pack = PackFactory(lines={"storage": GB})
    line = pack.allowances.get()
    for name in ("packallowance", "planallowance"):
        assert admin_client.get(reverse(f"admin:billing_{name}_add")).status_code == 403
    change = reverse("admin:billing_packallowance_change", args=[line.pk])
    assert admin_client.post(change, {"amount": 1}).status_code == 403
    assert pack.allowances.get().amount == GB


# Append-only -------------------------------------------------------------------


@pytest.fixture
def entry() -> AuditEntry:
    set_account_block(
        account=personal_account(),
        blocked=True,
        actor=_staff("billing.block_account"),
        reason="fraud",
    )
    return AuditEntry.objects.get()


@pytest.mark.parametrize(
    "change",
    [
        lambda e: AuditEntry.objects.filter(pk=e.pk).update(reason="nothing"),
        lambda e: AuditEntry.objects.filter(pk=e.pk).update(actor=UserFactory()),
        lambda e: AuditEntry.objects.filter(pk=e.pk).delete(),
        lambda e: e.delete(),
    ],
    ids=["update-reason", "update-actor", "queryset-delete", "instance-delete"],
)
def test_the_database_refuses_to_update_or_delete_an_entry(entry, change):
    with pytest.raises(DatabaseError), transaction.atomic():
        change(entry)
    entry.refresh_from_db()
    assert entry.reason == "fraud"


@pytest.mark.parametrize("sql", ["UPDATE {t} SET reason = 'x'", "DELETE FROM {t}"])
def test_raw_sql_cannot_rewrite_the_trail_either(entry, sql):
    table = AuditEntry._meta.db_table
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as c:
        c.execute(sql.format(t=table))
    assert AuditEntry.objects.get().reason == "fraud"


# Admin ------------------------------------------------------------------------------

CHANGELIST = reverse("admin:billing_auditentry_changelist")


def test_the_changelist_renders_filters_and_offers_no_add_or_delete(
    admin_client, entry
):
    page = admin_client.get(CHANGELIST)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Account blocked" in html and "fraud" in html
    assert reverse("admin:billing_auditentry_add") not in html
    assert "delete_selected" not in html
    for params in (
        {"action": "account_blocked"},
        {"actor__id__exact": entry.actor_id},
        {"account__id__exact": entry.account_id},
        {"at__year": entry.at.year},
        {"q": "fraud"},
    ):
        assert admin_client.get(CHANGELIST, params).status_code == 200, params


def test_entries_cannot_be_added_edited_or_deleted_in_admin(admin_client, entry):
    change = reverse("admin:billing_auditentry_change", args=[entry.pk])
    assert admin_client.get(reverse("admin:billing_auditentry_add")).status_code == 403
    page = admin_client.get(change)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert "hard_blocked" in page.content.decode()  # the before/after table
    assert admin_client.post(change, {"reason": "x"}).status_code == 403
    delete = reverse("admin:billing_auditentry_delete", args=[entry.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.get().reason == "fraud"


def test_reading_the_trail_needs_view_auditentry(client, entry):
    client.force_login(_staff("billing.refund_charge"))
    assert client.get(CHANGELIST).status_code == 403
    client.force_login(_staff("billing.view_auditentry"))
    assert client.get(CHANGELIST).status_code == 200
