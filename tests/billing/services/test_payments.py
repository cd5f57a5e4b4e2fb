"""Paying the balance: every pending charge in one payment, only those the
payer was shown, only by those who may manage the account."""

import pytest

from billing.errors import ConfirmationRequired, PaymentDeclined, PermissionDenied
from billing.models import ChargeRecord
from billing.selectors import outstanding_balance_cents
from billing.services.payments import pay_outstanding_balance
from tests.factories.accounts import MembershipFactory, UserFactory
from tests.factories.billing import (
    ChargeRecordFactory,
    company_account,
    owner_of,
    personal_account,
)

pytestmark = pytest.mark.django_db

Status = ChargeRecord.Status


def _statuses(account):
    return sorted(account.charges.values_list("amount_cents", "status"))


def test_paying_settles_every_pending_charge_in_one_payment():
    account = personal_account()
    pending = [
        ChargeRecordFactory(account=account, amount_cents=500),
        ChargeRecordFactory(account=account, amount_cents=725),
    ]
    ChargeRecordFactory(account=account, amount_cents=1000, paid=True)

    payment = pay_outstanding_balance(account=account, actor=owner_of(account))

    assert (payment.paid_cents, payment.charges) == (1225, 2)
    assert outstanding_balance_cents(account=account) == 0
    for charge in pending:
        charge.refresh_from_db()
        assert charge.status == Status.PAID
        assert charge.paid_at is not None
    references = {c.gateway_reference for c in pending}
    assert len(references) == 1
    assert references != {""}


def test_paying_keeps_every_amount_as_it_was():
    account = personal_account()
    ChargeRecordFactory(account=account, amount_cents=500)
    ChargeRecordFactory(account=account, amount_cents=725)

    pay_outstanding_balance(account=account, actor=owner_of(account))

    assert _statuses(account) == [(500, Status.PAID), (725, Status.PAID)]


def test_paying_again_pays_nothing():
    account = personal_account()
    ChargeRecordFactory(account=account, amount_cents=500)
    pay_outstanding_balance(account=account, actor=owner_of(account))

    again = pay_outstanding_balance(account=account, actor=owner_of(account))

    assert (again.paid_cents, again.charges) == (0, 0)
    assert _statuses(account) == [(500, Status.PAID)]


def test_paying_with_nothing_outstanding_pays_nothing():
    account = personal_account()
    ChargeRecordFactory(account=account, amount_cents=500, paid=True)

    payment = pay_outstanding_balance(account=account, actor=owner_of(account))

    assert (payment.paid_cents, payment.charges) == (0, 0)


def test_paying_leaves_other_accounts_charges_pending():
    account, other = personal_account(), personal_account()
    ChargeRecordFactory(account=account, amount_cents=500)
    ChargeRecordFactory(account=other, amount_cents=900)

    pay_outstanding_balance(account=account, actor=owner_of(account))

    assert outstanding_balance_cents(account=other) == 900


def test_a_declined_payment_leaves_the_charges_pending(settings):
    settings.BILLING_SANDBOX_DECLINE = True
    account = personal_account()
    ChargeRecordFactory(account=account, amount_cents=500)
    ChargeRecordFactory(account=account, amount_cents=725)

    with pytest.raises(PaymentDeclined) as excinfo:
        pay_outstanding_balance(account=account, actor=owner_of(account))

    assert excinfo.value.code == "payment_declined"
    assert _statuses(account) == [(500, Status.PENDING), (725, Status.PENDING)]
    assert not account.charges.exclude(paid_at=None).exists()
    assert outstanding_balance_cents(account=account) == 1225


def test_a_declined_payment_can_be_retried(settings):
    settings.BILLING_SANDBOX_DECLINE = True
    account = personal_account()
    ChargeRecordFactory(account=account, amount_cents=500)
    with pytest.raises(PaymentDeclined):
        pay_outstanding_balance(account=account, actor=owner_of(account))
    settings.BILLING_SANDBOX_DECLINE = False

    payment = pay_outstanding_balance(account=account, actor=owner_of(account))

    assert payment.paid_cents == 500
    assert outstanding_balance_cents(account=account) == 0


def test_a_company_member_cannot_pay():
    account = company_account()
    ChargeRecordFactory(account=account, amount_cents=500)
    member = MembershipFactory(company=account.company).user

    with pytest.raises(PermissionDenied) as excinfo:
        pay_outstanding_balance(account=account, actor=member)

    assert excinfo.value.code == "forbidden"
    assert outstanding_balance_cents(account=account) == 500


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_company_owners_and_admins_can_pay(role):
    account = company_account()
    ChargeRecordFactory(account=account, amount_cents=500)
    payer = MembershipFactory(company=account.company, role=role).user

    payment = pay_outstanding_balance(account=account, actor=payer)

    assert payment.paid_cents == 500
    assert outstanding_balance_cents(account=account) == 0


def test_a_user_cannot_pay_someone_elses_balance():
    account = personal_account()
    ChargeRecordFactory(account=account, amount_cents=500)

    with pytest.raises(PermissionDenied):
        pay_outstanding_balance(account=account, actor=UserFactory())

    assert outstanding_balance_cents(account=account) == 500


def test_a_charge_that_arrived_after_the_payer_looked_is_not_paid_unseen():
    account = personal_account()
    shown = ChargeRecordFactory(account=account, amount_cents=500)
    ChargeRecordFactory(account=account, amount_cents=9900)  # arrived meanwhile

    with pytest.raises(ConfirmationRequired):
        pay_outstanding_balance(
            account=account, actor=owner_of(account), expected_charge_ids=[shown.pk]
        )
    assert outstanding_balance_cents(account=account) == 10400

    payment = pay_outstanding_balance(
        account=account,
        actor=owner_of(account),
        expected_charge_ids=list(account.charges.values_list("pk", flat=True)),
    )
    assert (payment.paid_cents, payment.charges) == (10400, 2)
