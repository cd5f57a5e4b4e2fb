"""Thirty buyers at once: every invoice gets its own number, none is skipped.

The number is taken in the last step of each sale's transaction; the year's
sequence row stays locked until commit, so a sale that is declined or rolled
back gives its number back. Runs on PostgreSQL (row locks, real concurrent
connections) and on SQLite (IMMEDIATE transactions queue the writers).
"""

from datetime import UTC, datetime

import pytest
import time_machine

from billing.models import ChargeRecord, CreditNote, Invoice
from billing.services.packs import purchase_pack
from billing.services.payments import PaymentResult, SandboxGateway
from billing.services.refunds import refund_charge
from billing.units import GB
from tests.factories.billing import PackFactory, owner_of, personal_account

pytestmark = pytest.mark.django_db(transaction=True)

BUYERS = 30


class EveryThirdDeclines(SandboxGateway):
    """Declines the buyers whose token ends in a multiple of 3."""

    def charge(
        self, *, amount_cents: int, currency: str, reference: str
    ) -> PaymentResult:
        if int(reference.rsplit("-", 1)[1]) % 3 == 0:
            return PaymentResult(approved=False, decline_reason="Card declined.")
        return super().charge(
            amount_cents=amount_cents, currency=currency, reference=reference
        )


def numbers(model, series):
    found = sorted(model.objects.values_list("number", flat=True))
    return found, [f"{series}-2026-{n:06d}" for n in range(1, len(found) + 1)]


@time_machine.travel(datetime(2026, 3, 10, 12, tzinfo=UTC))
def test_thirty_concurrent_buyers_get_thirty_consecutive_invoice_numbers(
    run_concurrently, seeded_catalogue
):
    pack = PackFactory(lines={"storage": 10 * GB}, price_cents=2000)
    accounts = [personal_account() for _ in range(BUYERS)]

    outcomes = run_concurrently(
        lambda i: purchase_pack(
            account=accounts[i],
            pack=pack,
            actor=owner_of(accounts[i]),
            idempotency_key=f"buyer-{i}",
        ),
        threads=BUYERS,
    )

    outcomes.assert_only()
    found, expected = numbers(Invoice, "INV")
    assert found == expected
    assert len(found) == BUYERS
    assert Invoice.objects.values("charge").distinct().count() == BUYERS


@time_machine.travel(datetime(2026, 3, 10, 12, tzinfo=UTC))
def test_declined_buyers_in_the_crowd_leave_no_gap(
    run_concurrently, seeded_catalogue, settings
):
    settings.BILLING_PAYMENT_GATEWAY = f"{__name__}.EveryThirdDeclines"
    pack = PackFactory(lines={"storage": 10 * GB}, price_cents=2000)
    accounts = [personal_account() for _ in range(BUYERS)]

    outcomes = run_concurrently(
        lambda i: purchase_pack(
            account=accounts[i],
            pack=pack,
            actor=owner_of(accounts[i]),
            idempotency_key=f"buyer-{i}",
        ),
        threads=BUYERS,
    )

    outcomes.assert_only()
    paid = ChargeRecord.objects.filter(status=ChargeRecord.Status.PAID).count()
    assert paid == BUYERS - BUYERS // 3
    found, expected = numbers(Invoice, "INV")
    assert found == expected
    assert len(found) == paid


@time_machine.travel(datetime(2026, 3, 10, 12, tzinfo=UTC))
def test_refunds_racing_sales_number_both_series_without_gaps(
    run_concurrently, seeded_catalogue
):
    pack = PackFactory(lines={"storage": 10 * GB}, price_cents=2000)
    accounts = [personal_account() for _ in range(BUYERS)]
    bought = [
        purchase_pack(
            account=account,
            pack=pack,
            actor=owner_of(account),
            idempotency_key=f"first-{i}",
        ).charge
        for i, account in enumerate(accounts[: BUYERS // 2])
    ]

    def act(i: int):
        if i < BUYERS // 2:
            return refund_charge(charge=bought[i], actor=None, amount_cents=500)
        account = accounts[i]
        return purchase_pack(
            account=account,
            pack=pack,
            actor=owner_of(account),
            idempotency_key=f"b-{i}",
        )

    run_concurrently(act, threads=BUYERS).assert_only()

    found, expected = numbers(Invoice, "INV")
    assert found == expected and len(found) == BUYERS
    found, expected = numbers(CreditNote, "CN")
    assert found == expected and len(found) == BUYERS // 2
