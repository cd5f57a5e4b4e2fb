"""Buying a pack: a purchase, its grants and a paid charge, once per token,
only by those who may manage the account."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from billing.errors import InvalidRequest, PermissionDenied
from billing.models import ChargeRecord, Pack, Purchase
from billing.selectors import outstanding_balance_cents
from billing.units import GB
from tests.factories.accounts import MembershipFactory, UserFactory
from tests.factories.billing import PackFactory, company_account, personal_account

from ..helpers import FREE_SLOTS, FREE_STORAGE, buy, limit, storage_pack

pytestmark = pytest.mark.django_db

AT = datetime(2026, 4, 16, 12, tzinfo=UTC)


@pytest.mark.time_machine(AT)
def test_buying_a_capacity_pack_records_purchase_grant_and_paid_charge():
    account = personal_account()
    pack = storage_pack(price_cents=2000, term_days=365)
    before = timezone.now()

    result = buy(account, pack)

    assert result.created is True
    assert result.approved is True
    purchase = result.purchase
    assert purchase.status == Purchase.Status.COMPLETED
    assert purchase.price_cents == 2000
    assert purchase.expires_at - purchase.starts_at == timedelta(days=365)
    assert before <= purchase.starts_at <= timezone.now()
    (grant,) = purchase.grants.all()
    assert (grant.meter.code, grant.amount, grant.account) == (
        "storage",
        50 * GB,
        account,
    )
    assert (grant.effective_at, grant.expires_at) == (
        purchase.starts_at,
        purchase.expires_at,
    )
    (charge,) = account.charges.all()
    assert (charge, charge.purchase) == (result.charge, purchase)
    assert (charge.kind, charge.amount_cents, charge.status) == (
        ChargeRecord.Kind.CAPACITY_PACK,
        2000,
        ChargeRecord.Status.PAID,
    )
    assert charge.paid_at is not None


def test_a_bought_pack_raises_the_limit():
    account = personal_account()
    assert limit(account, "storage") == FREE_STORAGE

    buy(account, storage_pack())

    assert limit(account, "storage") == FREE_STORAGE + 50 * GB


def test_a_bought_pack_stops_counting_after_its_term():
    account = personal_account()
    purchase = buy(account, storage_pack(term_days=30)).purchase

    assert limit(account, "storage", at=purchase.expires_at) == FREE_STORAGE


def test_a_pack_with_several_lines_makes_one_grant_per_meter():
    account = personal_account()
    pack = PackFactory(lines={"storage": 10 * GB, "bandwidth": 20 * GB})

    purchase = buy(account, pack).purchase

    grants = dict(purchase.grants.values_list("meter__code", "amount"))
    assert grants == {"storage": 10 * GB, "bandwidth": 20 * GB}
    assert limit(account, "storage") == FREE_STORAGE + 10 * GB
    assert limit(account, "bandwidth") == 5 * GB + 20 * GB


def test_buying_a_slot_pack_is_charged_as_a_slot_pack():
    account = company_account()
    pack = Pack.objects.get(code="slots-5-once")

    result = buy(account, pack)

    assert result.charge.kind == ChargeRecord.Kind.SLOT_PACK
    assert result.charge.amount_cents == 2500
    assert result.purchase.expires_at - result.purchase.starts_at == timedelta(days=30)
    assert limit(account, "job_slots") == FREE_SLOTS + 5


def test_slot_packs_are_refused_for_personal_accounts():
    account = personal_account()
    with pytest.raises(InvalidRequest, match="company accounts only"):
        buy(account, Pack.objects.get(code="slots-5-once"))
    assert not account.purchases.exists() and not account.charges.exists()


def test_the_same_token_twice_makes_one_purchase_and_one_charge():
    account = personal_account()
    pack = storage_pack()

    first = buy(account, pack, token="double-submit")
    second = buy(account, pack, token="double-submit")

    assert (first.created, second.created) == (True, False)
    assert second.purchase == first.purchase
    assert second.charge == first.charge
    assert account.purchases.count() == 1
    assert account.charges.count() == 1
    assert account.grants.count() == 1
    assert limit(account, "storage") == FREE_STORAGE + 50 * GB


def test_different_tokens_buy_the_pack_twice():
    account = personal_account()
    pack = storage_pack()

    buy(account, pack, token="first")
    buy(account, pack, token="second")

    assert account.charges.count() == 2
    assert limit(account, "storage") == FREE_STORAGE + 100 * GB


def test_a_token_used_by_another_account_is_refused():
    account, other = personal_account(), personal_account()
    pack = storage_pack()
    buy(other, pack, token="shared")

    with pytest.raises(InvalidRequest):
        buy(account, pack, token="shared")

    assert not account.purchases.exists()


def test_a_purchase_needs_a_token():
    account = personal_account()

    with pytest.raises(InvalidRequest):
        buy(account, storage_pack(), token="")

    assert not account.charges.exists()


def test_a_declined_payment_records_a_failed_charge_and_no_grant(settings):
    settings.BILLING_SANDBOX_DECLINE = True
    account = personal_account()

    result = buy(account, storage_pack())

    assert result.approved is False
    assert result.purchase.status == Purchase.Status.FAILED
    assert result.charge.status == ChargeRecord.Status.FAILED
    assert result.charge.failure_reason
    (charge,) = account.charges.all()
    assert charge.status == ChargeRecord.Status.FAILED
    assert charge.paid_at is None
    assert not account.grants.exists()
    assert limit(account, "storage") == FREE_STORAGE
    assert outstanding_balance_cents(account=account) == 0


def test_an_inactive_pack_cannot_be_bought():
    account = personal_account()
    pack = storage_pack(is_active=False)

    with pytest.raises(InvalidRequest) as excinfo:
        buy(account, pack)

    assert excinfo.value.code == "invalid_request"
    assert not account.purchases.exists()
    assert not account.charges.exists()
    assert limit(account, "storage") == FREE_STORAGE


def test_a_company_member_cannot_buy():
    account = company_account()
    member = MembershipFactory(company=account.company).user

    with pytest.raises(PermissionDenied) as excinfo:
        buy(account, storage_pack(), user=member)

    assert excinfo.value.code == "forbidden"
    assert not account.purchases.exists()
    assert not account.charges.exists()


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_company_owners_and_admins_can_buy(role):
    account = company_account()
    buyer = MembershipFactory(company=account.company, role=role).user

    result = buy(account, storage_pack(), user=buyer)

    assert result.approved is True
    assert result.purchase.bought_by == buyer
    assert limit(account, "storage") == FREE_STORAGE + 50 * GB


def test_an_outsider_cannot_buy_for_a_company():
    account = company_account()

    with pytest.raises(PermissionDenied):
        buy(account, storage_pack(), user=UserFactory())

    assert not account.charges.exists()


def test_a_user_cannot_buy_for_someone_elses_personal_account():
    account = personal_account()
    stranger = UserFactory()

    with pytest.raises(PermissionDenied):
        buy(account, storage_pack(), user=stranger)

    assert not account.purchases.exists()
    assert not stranger.billing_account.purchases.exists()
