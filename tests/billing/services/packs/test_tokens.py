"""A purchase token replays its first result, and only for the same request."""

import pytest

from billing.errors import IdempotencyConflict
from billing.models import ChargeRecord, Pack, Purchase
from billing.services.packs import purchase_pack, renew_purchase
from billing.units import GB
from tests.factories.billing import PackFactory, owner_of, personal_account

pytestmark = pytest.mark.django_db


def _buy(account, pack, token):
    return purchase_pack(
        account=account, pack=pack, actor=owner_of(account), idempotency_key=token
    )


def _renew(purchase, token):
    return renew_purchase(
        purchase=purchase, actor=owner_of(purchase.account), idempotency_key=token
    )


def _subscription(**kwargs):
    """A 30-day subscription: renewable from the moment it is bought."""
    kwargs.setdefault("term_days", 30)
    return PackFactory(lines={"storage": 50 * GB}, subscription=True, **kwargs)


def test_a_token_replayed_for_another_pack_is_a_conflict_and_charges_nothing():
    account = personal_account()
    first = _buy(account, PackFactory(lines={"storage": GB}), "tok-1")
    other = PackFactory(lines={"bandwidth": GB}, price_cents=700)

    with pytest.raises(IdempotencyConflict) as excinfo:
        _buy(account, other, "tok-1")

    assert excinfo.value.code == "idempotency_conflict"
    assert list(account.purchases.all()) == [first.purchase]
    assert list(account.charges.all()) == [first.charge]
    assert account.grants.get().meter.code == "storage"


def test_a_token_replayed_for_the_same_pack_returns_the_first_result():
    account = personal_account()
    pack = PackFactory(lines={"storage": GB})
    first = _buy(account, pack, "tok-1")

    again = _buy(account, pack, "tok-1")

    assert (again.purchase, again.charge, again.created) == (
        first.purchase,
        first.charge,
        False,
    )
    assert account.charges.count() == 1


def test_a_replay_still_works_once_the_pack_is_off_sale():
    account = personal_account()
    pack = PackFactory(lines={"storage": GB})
    first = _buy(account, pack, "tok-1")
    Pack.objects.filter(pk=pack.pk).update(is_active=False)
    pack.refresh_from_db()

    again = _buy(account, pack, "tok-1")

    assert (again.purchase, again.created) == (first.purchase, False)


def test_a_renewal_token_replayed_for_another_purchase_is_a_conflict():
    account = personal_account()
    pack = _subscription()
    one = _buy(account, pack, "buy-1").purchase
    two = _buy(account, pack, "buy-2").purchase
    renewal = _renew(one, "renew-1")

    with pytest.raises(IdempotencyConflict):
        _renew(two, "renew-1")

    assert list(Purchase.objects.filter(renewal_of__isnull=False)) == [renewal.purchase]
    assert account.charges.filter(kind=ChargeRecord.Kind.RENEWAL).count() == 1


def test_a_renewal_token_replayed_for_the_same_purchase_returns_the_renewal():
    account = personal_account()
    original = _buy(account, _subscription(), "buy-1").purchase
    first = _renew(original, "renew-1")

    again = _renew(original, "renew-1")

    assert (again.purchase, again.charge, again.created) == (
        first.purchase,
        first.charge,
        False,
    )


def test_a_purchase_token_cannot_be_replayed_as_a_renewal_nor_back():
    account = personal_account()
    pack = _subscription()
    original = _buy(account, pack, "buy-1").purchase
    _renew(original, "renew-1")
    charges = account.charges.count()

    with pytest.raises(IdempotencyConflict):
        _renew(original, "buy-1")
    with pytest.raises(IdempotencyConflict):
        _buy(account, pack, "renew-1")

    assert account.charges.count() == charges
