"""Renewing a subscription: the next term starts where the old one ends,
inside the renewal window, once per purchase and token."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from billing.errors import InvalidRequest, NotRenewable, PermissionDenied
from billing.models import ChargeRecord, Grant, Pack, Purchase
from billing.services.packs import purchase_pack, renew_purchase
from billing.services.refunds import refund_charge
from billing.units import GB
from tests.factories.accounts import MembershipFactory
from tests.factories.billing import (
    company_account,
    ending_soon,
    owner_of,
    personal_account,
    shift_term,
)

from ..helpers import FREE_STORAGE, buy, limit, staff_user, storage_pack

pytestmark = pytest.mark.django_db

AT = datetime(2026, 4, 16, 12, tzinfo=UTC)


def _lapsed_purchase(account, pack, *, days_ago=10):
    """A purchase made a term ago whose grants have just run out."""
    expires_at = timezone.now() - timedelta(days=days_ago)
    starts_at = expires_at - timedelta(days=pack.term_days)
    purchase = Purchase.objects.create(
        account=account,
        pack=pack,
        status=Purchase.Status.COMPLETED,
        idempotency_key="lapsed",
        price_cents=pack.price_cents,
        starts_at=starts_at,
        expires_at=expires_at,
        created_at=starts_at,
    )
    for line in pack.allowances.all():
        Grant.objects.create(
            account=account,
            meter=line.meter,
            amount=line.amount,
            effective_at=starts_at,
            expires_at=expires_at,
            purchase=purchase,
        )
    return purchase


def test_renewing_before_expiry_starts_at_the_old_expiry():
    account = personal_account()
    pack = storage_pack(subscription=True, term_days=365)
    original = ending_soon(buy(account, pack).purchase)

    renewal = renew_purchase(
        purchase=original, actor=owner_of(account), idempotency_key="renew-1"
    ).purchase

    assert renewal.kind == Purchase.Kind.RENEWAL
    assert renewal.renewal_of == original
    assert renewal.starts_at == original.expires_at
    assert renewal.expires_at == original.expires_at + timedelta(days=365)
    (grant,) = renewal.grants.all()
    assert grant.effective_at == original.expires_at
    assert grant.expires_at == renewal.expires_at


def test_an_early_renewal_does_not_double_the_limit_now():
    account = personal_account()
    pack = storage_pack(subscription=True, term_days=30)
    original = buy(account, pack).purchase

    renew_purchase(purchase=original, actor=owner_of(account), idempotency_key="r1")

    single = FREE_STORAGE + 50 * GB
    assert limit(account, "storage") == single
    last_moment = original.expires_at - timedelta(seconds=1)
    assert limit(account, "storage", at=last_moment) == single
    assert limit(account, "storage", at=original.expires_at) == single
    next_term = original.expires_at + timedelta(days=29)
    assert limit(account, "storage", at=next_term) == single
    assert limit(account, "storage", at=original.expires_at + timedelta(days=30)) == (
        FREE_STORAGE
    )


@pytest.mark.time_machine(AT)
def test_renewing_after_expiry_starts_now():
    account = personal_account()
    pack = storage_pack(subscription=True, term_days=30)
    lapsed = _lapsed_purchase(account, pack)
    assert limit(account, "storage") == FREE_STORAGE
    before = timezone.now()

    renewal = renew_purchase(
        purchase=lapsed, actor=owner_of(account), idempotency_key="late"
    ).purchase

    assert before <= renewal.starts_at <= timezone.now()
    assert renewal.expires_at == renewal.starts_at + timedelta(days=30)
    assert limit(account, "storage") == FREE_STORAGE + 50 * GB


def test_a_renewal_is_charged_as_a_renewal():
    account = company_account()
    pack = Pack.objects.get(code="slots-5-sub")
    original = buy(account, pack).purchase

    result = renew_purchase(
        purchase=original, actor=owner_of(account), idempotency_key="renew"
    )

    assert result.charge.kind == ChargeRecord.Kind.RENEWAL
    assert result.charge.amount_cents == pack.price_cents
    assert result.charge.status == ChargeRecord.Status.PAID
    assert account.charges.count() == 2


@pytest.mark.time_machine(datetime(2026, 6, 10, 12, tzinfo=UTC))
def test_a_term_cannot_be_renewed_before_its_renewal_window_opens():
    account = personal_account()
    pack = storage_pack(subscription=True, term_days=365)
    original = buy(account, pack).purchase

    with pytest.raises(NotRenewable) as excinfo:
        renew_purchase(purchase=original, actor=owner_of(account), idempotency_key="r")

    opens = original.expires_at - timedelta(days=30)
    assert f"Renewal opens on {opens.day} {opens:%b %Y}" in excinfo.value.message
    assert account.purchases.count() == 1
    assert account.charges.count() == 1


@pytest.mark.time_machine(datetime(2026, 6, 10, 12, tzinfo=UTC))
@pytest.mark.parametrize(
    ("ended_days_ago", "renewable"), [(-30, True), (29, True), (31, False)]
)
def test_the_renewal_window_runs_from_30_days_before_the_end_to_30_after(
    ended_days_ago, renewable
):
    account = personal_account()
    pack = storage_pack(subscription=True, term_days=365)
    original = buy(account, pack).purchase
    # Bought so long ago that its term ended ``ended_days_ago`` days (and an
    # hour) ago; a negative number of days: it ends that many days from now.
    left = original.expires_at - timezone.now()
    shift_term(original, by=left + timedelta(days=ended_days_ago, hours=1))

    def renew():
        return renew_purchase(
            purchase=original, actor=owner_of(account), idempotency_key="r"
        )

    if renewable:
        assert renew().purchase.kind == Purchase.Kind.RENEWAL
    else:
        with pytest.raises(NotRenewable, match="buy the pack again"):
            renew()


def test_a_one_time_pack_cannot_be_renewed():
    account = personal_account()
    original = buy(account, storage_pack()).purchase

    with pytest.raises(NotRenewable) as excinfo:
        renew_purchase(purchase=original, actor=owner_of(account), idempotency_key="r")

    assert excinfo.value.code == "not_renewable"
    assert account.purchases.count() == 1
    assert account.charges.count() == 1


def test_the_same_purchase_cannot_be_renewed_twice():
    account = personal_account()
    original = ending_soon(buy(account, storage_pack(subscription=True)).purchase)
    renew_purchase(purchase=original, actor=owner_of(account), idempotency_key="r1")

    with pytest.raises(NotRenewable):
        renew_purchase(purchase=original, actor=owner_of(account), idempotency_key="r2")

    assert account.purchases.count() == 2
    assert account.charges.count() == 2


def test_resubmitting_a_renewal_returns_the_first_one():
    account = personal_account()
    original = ending_soon(buy(account, storage_pack(subscription=True)).purchase)
    first = renew_purchase(
        purchase=original, actor=owner_of(account), idempotency_key="r1"
    )

    again = renew_purchase(
        purchase=original, actor=owner_of(account), idempotency_key="r1"
    )

    assert (again.purchase, again.created) == (first.purchase, False)
    assert account.charges.count() == 2


def test_the_renewal_itself_can_be_renewed():
    account = personal_account()
    pack = storage_pack(subscription=True, term_days=30)
    original = buy(account, pack).purchase
    renewal = renew_purchase(
        purchase=original, actor=owner_of(account), idempotency_key="r1"
    ).purchase
    # Later, when the renewed term is the one ending soon:
    shift_term(original, by=timedelta(days=45))
    renewal = shift_term(renewal, by=timedelta(days=45))

    third = renew_purchase(
        purchase=renewal, actor=owner_of(account), idempotency_key="r2"
    ).purchase

    assert third.starts_at == renewal.expires_at


def test_a_declined_renewal_can_be_retried_with_a_new_token(settings):
    account = personal_account()
    original = ending_soon(buy(account, storage_pack(subscription=True)).purchase)
    settings.BILLING_SANDBOX_DECLINE = True
    declined = renew_purchase(
        purchase=original, actor=owner_of(account), idempotency_key="r1"
    )
    settings.BILLING_SANDBOX_DECLINE = False

    retried = renew_purchase(
        purchase=original, actor=owner_of(account), idempotency_key="r2"
    )

    assert declined.charge.status == ChargeRecord.Status.FAILED
    assert not declined.purchase.grants.exists()
    assert retried.approved is True
    assert retried.purchase.starts_at == original.expires_at


def test_a_refunded_purchase_cannot_be_renewed():
    account = personal_account()
    bought = buy(account, storage_pack(subscription=True))
    refund_charge(charge=bought.charge, actor=staff_user())

    with pytest.raises(NotRenewable):
        renew_purchase(
            purchase=bought.purchase, actor=owner_of(account), idempotency_key="r"
        )


def test_a_company_member_cannot_renew():
    account = company_account()
    original = buy(account, storage_pack(subscription=True)).purchase
    member = MembershipFactory(company=account.company).user

    with pytest.raises(PermissionDenied):
        renew_purchase(purchase=original, actor=member, idempotency_key="r")

    assert account.purchases.count() == 1


def test_a_pack_taken_off_sale_cannot_be_renewed():
    account = personal_account()
    pack = storage_pack(subscription=True)
    original = buy(account, pack).purchase
    Pack.objects.filter(pk=pack.pk).update(is_active=False)

    with pytest.raises(NotRenewable):
        renew_purchase(purchase=original, actor=owner_of(account), idempotency_key="r")


def test_a_renewal_needs_its_idempotency_token():
    account = personal_account()
    bought = purchase_pack(
        account=account,
        pack=Pack.objects.get(code="storage-50gb-sub"),
        actor=account.user,
        idempotency_key="sub-1",
    )

    with pytest.raises(InvalidRequest):
        renew_purchase(purchase=bought.purchase, actor=account.user, idempotency_key="")

    assert Purchase.objects.filter(account=account).count() == 1
