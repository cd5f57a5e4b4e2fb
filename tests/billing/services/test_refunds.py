"""Refunding a charge: a new negative row (the ledger is insert-only) for the
amount staff choose, the pack's grants ended, a pending charge voided instead;
the customer's reason and the staff note kept apart; staff only."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from billing.errors import AlreadyRefunded, InvalidRequest, PermissionDenied
from billing.models import ChargeRecord, Grant, Pack, Purchase
from billing.selectors import outstanding_balance_cents
from billing.services.packs import purchase_pack, renew_purchase
from billing.services.payments import PaymentResult, SandboxGateway
from billing.services.refunds import refund_charge
from billing.units import GB
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import (
    ChargeRecordFactory,
    ending_soon,
    owner_of,
    personal_account,
)

from .helpers import FREE_STORAGE, buy, limit, staff_user, storage_pack

pytestmark = pytest.mark.django_db

BOUGHT = datetime(2026, 4, 1, tzinfo=UTC)
REFUNDED = datetime(2026, 4, 16, 12, tzinfo=UTC)


class RecordingGateway(SandboxGateway):
    """The sandbox, remembering the amount of every refund it was asked for."""

    refunds: list[int] = []

    def refund(self, *, amount_cents: int, currency: str, reference: str):
        self.refunds.append(amount_cents)
        return PaymentResult(approved=True, reference="rf_test")


@pytest.fixture
def gateway(settings):
    settings.BILLING_PAYMENT_GATEWAY = f"{__name__}.RecordingGateway"
    RecordingGateway.refunds = []
    return RecordingGateway


def _refund(charge, *, at=REFUNDED, **kwargs):
    with time_machine.travel(at, tick=False):
        return refund_charge(
            charge=charge,
            actor=StaffUserFactory(perms=["billing.refund_charge"]),
            **kwargs,
        )


# Full refunds, voids and who may refund -------------------------------------


def test_refunding_a_paid_charge_adds_a_negative_row_pointing_at_it():
    account = personal_account()
    bought = buy(account, storage_pack(price_cents=2000))

    refund = refund_charge(
        charge=bought.charge, actor=staff_user(), customer_reason="Customer request"
    )

    assert refund.kind == ChargeRecord.Kind.REFUND
    assert refund.amount_cents == -2000
    assert refund.refund_of == bought.charge
    assert refund.status == ChargeRecord.Status.PAID
    assert refund.account == account
    assert refund.customer_reason == "Customer request"
    original = ChargeRecord.objects.get(pk=bought.charge.pk)
    assert original.amount_cents == 2000
    assert original.status == ChargeRecord.Status.PAID
    assert account.charges.count() == 2


def test_refunding_a_pack_ends_its_grants_and_the_limit_drops_back():
    account = personal_account()
    bought = buy(account, storage_pack())

    refund_charge(charge=bought.charge, actor=staff_user())

    assert limit(account, "storage") == FREE_STORAGE
    grant = bought.purchase.grants.get()
    assert grant.revoked_at is not None
    bought.purchase.refresh_from_db()
    assert bought.purchase.status == Purchase.Status.REFUNDED


def test_refunding_a_renewal_keeps_the_original_term():
    account = personal_account()
    original = ending_soon(buy(account, storage_pack(subscription=True)).purchase)
    renewal = renew_purchase(
        purchase=original, actor=owner_of(account), idempotency_key="r1"
    )

    refund_charge(charge=renewal.charge, actor=staff_user())

    assert limit(account, "storage") == FREE_STORAGE + 50 * GB
    assert limit(account, "storage", at=original.expires_at) == FREE_STORAGE


def test_refunding_twice_is_refused():
    account = personal_account()
    bought = buy(account, storage_pack())
    refund_charge(charge=bought.charge, actor=staff_user())

    with pytest.raises(AlreadyRefunded) as excinfo:
        refund_charge(charge=bought.charge, actor=staff_user())

    assert excinfo.value.code == "already_refunded"
    assert account.charges.filter(kind=ChargeRecord.Kind.REFUND).count() == 1


def test_a_refund_cannot_itself_be_refunded():
    account = personal_account()
    bought = buy(account, storage_pack())
    refund = refund_charge(charge=bought.charge, actor=staff_user())

    with pytest.raises(InvalidRequest):
        refund_charge(charge=refund, actor=staff_user())

    assert account.charges.count() == 2


def test_refunding_a_pending_charge_voids_it():
    account = personal_account()
    charge = ChargeRecordFactory(account=account, amount_cents=700)
    assert outstanding_balance_cents(account=account) == 700

    result = refund_charge(charge=charge, actor=staff_user())

    charge.refresh_from_db()
    assert charge.status == ChargeRecord.Status.VOID
    assert charge.amount_cents == 700
    assert result.status == ChargeRecord.Status.VOID
    assert not account.charges.filter(kind=ChargeRecord.Kind.REFUND).exists()
    assert outstanding_balance_cents(account=account) == 0


def test_a_voided_charge_cannot_be_refunded_again():
    account = personal_account()
    charge = ChargeRecordFactory(account=account)
    refund_charge(charge=charge, actor=staff_user())

    with pytest.raises(AlreadyRefunded):
        refund_charge(charge=charge, actor=staff_user())


def test_a_failed_charge_has_nothing_to_refund(settings):
    settings.BILLING_SANDBOX_DECLINE = True
    account = personal_account()
    failed = buy(account, storage_pack()).charge

    with pytest.raises(InvalidRequest):
        refund_charge(charge=failed, actor=staff_user())

    assert account.charges.count() == 1


def test_only_staff_can_refund_a_charge():
    account = personal_account()
    bought = purchase_pack(
        account=account,
        pack=Pack.objects.get(code="storage-50gb-once"),
        actor=account.user,
        idempotency_key="self-refund",
    )

    with pytest.raises(PermissionDenied):
        refund_charge(charge=bought.charge, actor=account.user)

    assert not ChargeRecord.objects.filter(kind=ChargeRecord.Kind.REFUND).exists()
    assert limit(account, "storage") == FREE_STORAGE + 50 * GB


def test_theme_charges_are_refunded_only_through_their_sale():
    account = personal_account()
    charge = ChargeRecordFactory(
        account=account, kind=ChargeRecord.Kind.THEME, amount_cents=900, paid=True
    )
    with pytest.raises(InvalidRequest, match="store's Sales page"):
        refund_charge(
            charge=charge, actor=StaffUserFactory(perms=["billing.refund_charge"])
        )
    assert not charge.refunds.exists()


# Amounts --------------------------------------------------------------------


def test_without_an_amount_the_full_price_is_refunded(gateway):
    bought = buy(personal_account(), storage_pack(), at=BOUGHT)

    refund = _refund(bought.charge)

    assert refund.amount_cents == -2000
    assert refund.description == f"Refund of {bought.charge.description}"
    assert gateway.refunds == [2000]


def test_a_partial_refund_refunds_that_amount_and_still_ends_the_grants(gateway):
    account = personal_account()
    bought = buy(account, storage_pack(), at=BOUGHT)

    refund = _refund(bought.charge, amount_cents=750)

    assert refund.amount_cents == -750
    assert refund.refund_of == bought.charge
    assert refund.description.startswith("Partial refund of ")
    assert gateway.refunds == [750]
    assert ChargeRecord.objects.get(pk=bought.charge.pk).amount_cents == 2000
    grant = bought.purchase.grants.get()
    assert grant.revoked_at == REFUNDED
    assert not Grant.objects.active_at(REFUNDED).filter(account=account).exists()
    assert Grant.objects.active_at(REFUNDED - timedelta(seconds=1)).count() == 1
    bought.purchase.refresh_from_db()
    assert bought.purchase.status == Purchase.Status.REFUNDED


@pytest.mark.parametrize("amount_cents", [0, -1, 2001, 10**12])
def test_an_amount_out_of_range_is_refused_and_nothing_is_written(
    gateway, amount_cents
):
    account = personal_account()
    bought = buy(account, storage_pack(), at=BOUGHT)

    with pytest.raises(InvalidRequest) as excinfo:
        _refund(bought.charge, amount_cents=amount_cents)

    assert excinfo.value.code == "invalid_request"
    assert "between $0.01 and $20.00" in excinfo.value.message
    assert list(account.charges.all()) == [bought.charge]
    assert not bought.purchase.grants.filter(revoked_at__isnull=False).exists()
    bought.purchase.refresh_from_db()
    assert bought.purchase.status == Purchase.Status.COMPLETED
    assert gateway.refunds == []


@pytest.mark.parametrize("amount_cents", [True, 12.5, "500"])
def test_an_amount_that_is_not_whole_cents_is_refused(gateway, amount_cents):
    bought = buy(personal_account(), storage_pack(), at=BOUGHT)

    with pytest.raises(InvalidRequest):
        _refund(bought.charge, amount_cents=amount_cents)

    assert not ChargeRecord.objects.filter(refund_of=bought.charge).exists()


def test_the_whole_amount_can_be_given_explicitly(gateway):
    bought = buy(personal_account(), storage_pack(), at=BOUGHT)

    refund = _refund(bought.charge, amount_cents=2000)

    assert refund.amount_cents == -2000
    assert refund.description.startswith("Refund of ")


def test_a_pending_charge_is_voided_whole_never_in_part():
    charge = ChargeRecordFactory(amount_cents=700)

    with pytest.raises(InvalidRequest, match="voided whole"):
        _refund(charge, amount_cents=300)

    charge.refresh_from_db()
    assert charge.status == ChargeRecord.Status.PENDING
    voided = _refund(charge, customer_reason="Billed twice", staff_note="dup #12")
    assert (voided.pk, voided.status) == (charge.pk, ChargeRecord.Status.VOID)
    charge.refresh_from_db()
    assert (charge.amount_cents, charge.customer_reason, charge.staff_note) == (
        700,
        "Billed twice",
        "dup #12",
    )


# The two texts --------------------------------------------------------------


def test_the_customer_reason_and_the_staff_note_are_kept_apart(gateway):
    bought = buy(personal_account(), storage_pack(), at=BOUGHT)

    refund = _refund(
        bought.charge,
        customer_reason="  Sorry, the upload limit was wrong.  ",
        staff_note="Ticket 4411; bug in the storage gauge, see incident 7.",
    )

    refund.refresh_from_db()
    assert refund.customer_reason == "Sorry, the upload limit was wrong."
    assert refund.staff_note == "Ticket 4411; bug in the storage gauge, see incident 7."
    assert "Sorry" not in refund.description
    assert "Ticket" not in refund.description


def test_the_customer_sees_the_reason_and_never_the_staff_note(client, gateway):
    account = personal_account()
    bought = buy(account, storage_pack(), at=BOUGHT)
    _refund(
        bought.charge,
        amount_cents=1200,
        customer_reason="Partly refunded after the outage",
        staff_note="INTERNAL goodwill, approved by Kim",
    )
    client.force_login(account.user)

    pages = [
        client.get(reverse("dashboard:user-billing", args=[account.pk])),
        client.get(
            reverse("dashboard:user-receipt", args=[account.pk, bought.purchase.pk])
        ),
    ]

    for page in pages:
        html = page.content.decode()
        assert page.status_code == 200
        assert "Partly refunded after the outage" in html
        assert "INTERNAL goodwill" not in html
        assert "approved by Kim" not in html
    assert "-$12.00" in pages[0].content.decode()
