"""Refunds: the amount staff choose, the two texts, and the pro-rata proposal."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from billing.errors import InvalidRequest
from billing.models import ChargeRecord, Grant, Purchase
from billing.refunds import refund_proposal
from billing.services.packs import purchase_pack, refund_charge, renew_purchase
from billing.services.payments import PaymentResult, SandboxGateway
from billing.units import GB
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import (
    ChargeFactory,
    PackFactory,
    company_account,
    owner_of,
    personal_account,
)

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


def _buy(account, pack, *, at=BOUGHT, token="tok-1"):
    with time_machine.travel(at, tick=False):
        return purchase_pack(
            account=account, pack=pack, user=owner_of(account), idempotency_key=token
        )


def _refund(charge, *, at=REFUNDED, **kwargs):
    with time_machine.travel(at, tick=False):
        return refund_charge(
            charge=charge,
            staff_user=StaffUserFactory(perms=["billing.refund_charge"]),
            **kwargs,
        )


def _storage_pack(**kwargs):
    kwargs.setdefault("price_cents", 2000)
    return PackFactory(lines={"storage": 50 * GB}, **kwargs)


# Amounts ------------------------------------------------------------------


def test_without_an_amount_the_full_price_is_refunded(gateway):
    bought = _buy(personal_account(), _storage_pack())

    refund = _refund(bought.charge)

    assert refund.amount_cents == -2000
    assert refund.description == f"Refund of {bought.charge.description}"
    assert gateway.refunds == [2000]


def test_a_partial_refund_refunds_that_amount_and_still_ends_the_grants(gateway):
    account = personal_account()
    bought = _buy(account, _storage_pack())

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
    bought = _buy(account, _storage_pack())

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
    bought = _buy(personal_account(), _storage_pack())

    with pytest.raises(InvalidRequest):
        _refund(bought.charge, amount_cents=amount_cents)

    assert not ChargeRecord.objects.filter(refund_of=bought.charge).exists()


def test_the_whole_amount_can_be_given_explicitly(gateway):
    bought = _buy(personal_account(), _storage_pack())

    refund = _refund(bought.charge, amount_cents=2000)

    assert refund.amount_cents == -2000
    assert refund.description.startswith("Refund of ")


def test_a_pending_charge_is_voided_whole_never_in_part():
    charge = ChargeFactory(amount_cents=700)

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


# The two texts ------------------------------------------------------------


def test_the_customer_reason_and_the_staff_note_are_kept_apart(gateway):
    bought = _buy(personal_account(), _storage_pack())

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


def test_reason_is_the_older_name_of_the_customer_reason(gateway):
    bought = _buy(personal_account(), _storage_pack())

    refund = _refund(bought.charge, reason="Bought by mistake")

    assert (refund.customer_reason, refund.staff_note) == ("Bought by mistake", "")


def test_the_customer_sees_the_reason_and_never_the_staff_note(client, gateway):
    account = personal_account()
    bought = _buy(account, _storage_pack())
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


# The pro-rata proposal ----------------------------------------------------


def test_a_counter_top_up_half_burned_proposes_half_its_price():
    # 1999 cents x 1/2 = 999.5, rounded half-up to 1000.
    pack = PackFactory(lines={"bandwidth": 10 * GB}, price_cents=1999)
    bought = _buy(personal_account(), pack)
    Grant.objects.filter(purchase=bought.purchase).update(consumed=5 * GB)

    proposal = refund_proposal(charge=bought.charge, at=REFUNDED)

    assert (proposal.full_cents, proposal.pro_rata_cents) == (1999, 1000)
    assert "5.0 GB of 10.0 GB unused" in proposal.basis


def test_a_counter_top_up_not_yet_burned_proposes_the_full_price():
    pack = PackFactory(lines={"transcoding": 600}, price_cents=900)
    bought = _buy(personal_account(), pack)

    proposal = refund_proposal(charge=bought.charge, at=REFUNDED)

    assert proposal.pro_rata_cents == 900


def test_an_expired_counter_top_up_has_nothing_unused():
    pack = PackFactory(lines={"bandwidth": 10 * GB}, term_days=10)
    bought = _buy(personal_account(), pack)

    proposal = refund_proposal(charge=bought.charge, at=BOUGHT + timedelta(days=10))

    assert proposal.pro_rata_cents == 0


def test_a_storage_pack_half_through_its_term_proposes_half_its_price():
    # Bought 1 April 00:00 for 30 days; on 16 April 00:00, 15 of 30 days are
    # left: 2001 cents x 1/2 = 1000.5, rounded half-up to 1001.
    pack = _storage_pack(price_cents=2001, term_days=30)
    bought = _buy(personal_account(), pack)

    proposal = refund_proposal(
        charge=bought.charge, at=datetime(2026, 4, 16, tzinfo=UTC)
    )

    assert (proposal.full_cents, proposal.pro_rata_cents) == (2001, 1001)
    assert "15.0 of 30 days" in proposal.basis


def test_a_storage_pack_on_its_first_instant_proposes_the_full_price():
    bought = _buy(personal_account(), _storage_pack())

    assert refund_proposal(charge=bought.charge, at=BOUGHT).pro_rata_cents == 2000


def test_a_slot_pack_prorates_on_its_term():
    # 30-day slot pack bought 1 April 00:00; 10 days in, 20 of 30 are left.
    pack = PackFactory(lines={"job_slots": 5}, slots=True, price_cents=1500)
    bought = _buy(company_account(), pack)

    proposal = refund_proposal(
        charge=bought.charge, at=datetime(2026, 4, 11, tzinfo=UTC)
    )

    assert proposal.pro_rata_cents == 1000


def test_a_pack_with_several_meters_weighs_each_line_equally():
    # Storage: 365-day term, 73 days in -> 292/365 = 4/5 unused.
    # Bandwidth: 10 GB, 8 GB burned -> 1/5 unused. Mean: 1/2 of 3000 = 1500.
    pack = PackFactory(
        lines={"storage": 50 * GB, "bandwidth": 10 * GB}, price_cents=3000
    )
    bought = _buy(personal_account(), pack)
    Grant.objects.filter(purchase=bought.purchase, meter__code="bandwidth").update(
        consumed=8 * GB
    )

    proposal = refund_proposal(charge=bought.charge, at=BOUGHT + timedelta(days=73))

    assert proposal.pro_rata_cents == 1500
    assert "each meter weighs the same" in proposal.basis


def test_an_upcoming_renewal_is_all_unused():
    account = personal_account()
    # A 30-day term from 1 April is renewable on the 16th (within 30 days of
    # its end); the renewal starts on 1 May.
    pack = _storage_pack(subscription=True, term_days=30)
    original = _buy(account, pack).purchase
    with time_machine.travel(REFUNDED, tick=False):
        renewal = renew_purchase(
            purchase=original, user=owner_of(account), idempotency_key="r1"
        )

    proposal = refund_proposal(charge=renewal.charge, at=REFUNDED)

    assert renewal.purchase.starts_at == original.expires_at
    assert proposal.pro_rata_cents == proposal.full_cents == 2000


def test_a_charge_without_a_pack_has_nothing_to_prorate():
    charge = ChargeFactory(amount_cents=4321)

    proposal = refund_proposal(charge=charge, at=REFUNDED)

    assert (proposal.full_cents, proposal.pro_rata_cents) == (4321, 4321)
    assert "nothing to prorate" in proposal.basis
