"""The balance outstanding: what pending charges add up to."""

import pytest

from billing.selectors import outstanding_balance_cents
from tests.factories.billing import ChargeRecordFactory, personal_account

pytestmark = pytest.mark.django_db


def test_outstanding_balance_is_the_sum_of_pending_charges():
    account = personal_account()
    ChargeRecordFactory(account=account, amount_cents=500)
    ChargeRecordFactory(account=account, amount_cents=725)
    ChargeRecordFactory(account=account, amount_cents=1000, paid=True)
    ChargeRecordFactory(account=account, amount_cents=2000, failed=True)
    ChargeRecordFactory(account=account, amount_cents=3000, void=True)
    ChargeRecordFactory(account=personal_account(), amount_cents=9000)

    assert outstanding_balance_cents(account=account) == 1225


def test_an_account_with_no_charges_owes_nothing():
    assert outstanding_balance_cents(account=personal_account()) == 0
