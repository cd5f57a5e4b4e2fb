"""What the service tests of packs, refunds and grants share: the free plan's
limits, a storage pack, buying as the account's owner, staff who may refund."""

from contextlib import nullcontext

import time_machine

from billing.selectors import account_quotas
from billing.services.packs import purchase_pack
from billing.units import GB
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import PackFactory, owner_of

FREE_STORAGE = 2 * GB
FREE_SLOTS = 2


def limit(account, code, *, at=None):
    for status in account_quotas(account=account, at=at):
        if status.meter.code == code:
            return status.limit
    raise AssertionError(f"no {code} quota")


def storage_pack(**kwargs):
    kwargs.setdefault("price_cents", 2000)
    return PackFactory(lines={"storage": 50 * GB}, **kwargs)


def buy(account, pack, *, token="token-1", user=None, at=None):
    """Buy ``pack`` as the account's owner; at ``at`` if given, the clock
    frozen there."""
    clock = time_machine.travel(at, tick=False) if at else nullcontext()
    with clock:
        return purchase_pack(
            account=account,
            pack=pack,
            actor=user or owner_of(account),
            idempotency_key=token,
        )


def staff_user():
    return StaffUserFactory(perms=["billing.refund_charge", "billing.adjust_grant"])
