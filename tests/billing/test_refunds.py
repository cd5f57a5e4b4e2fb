"""The refund proposal: the full price, or the unused part of it pro rata."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from billing.models import Grant
from billing.refunds import refund_proposal
from billing.services.packs import purchase_pack, renew_purchase
from billing.units import GB
from tests.factories.billing import (
    ChargeRecordFactory,
    PackFactory,
    company_account,
    owner_of,
    personal_account,
)

pytestmark = pytest.mark.django_db

BOUGHT = datetime(2026, 4, 1, tzinfo=UTC)
REFUNDED = datetime(2026, 4, 16, 12, tzinfo=UTC)


def _buy(account, pack, *, at=BOUGHT, token="tok-1"):
    with time_machine.travel(at, tick=False):
        return purchase_pack(
            account=account, pack=pack, actor=owner_of(account), idempotency_key=token
        )


def _storage_pack(**kwargs):
    kwargs.setdefault("price_cents", 2000)
    return PackFactory(lines={"storage": 50 * GB}, **kwargs)


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
            purchase=original, actor=owner_of(account), idempotency_key="r1"
        )

    proposal = refund_proposal(charge=renewal.charge, at=REFUNDED)

    assert renewal.purchase.starts_at == original.expires_at
    assert proposal.pro_rata_cents == proposal.full_cents == 2000


def test_a_charge_without_a_pack_has_nothing_to_prorate():
    charge = ChargeRecordFactory(amount_cents=4321)

    proposal = refund_proposal(charge=charge, at=REFUNDED)

    assert (proposal.full_cents, proposal.pro_rata_cents) == (4321, 4321)
    assert "nothing to prorate" in proposal.basis
