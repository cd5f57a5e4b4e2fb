"""Row locks on billing accounts: the one serialisation point per tenant.

Every write that checks a limit locks the account row first, in pk order
when it needs several, so concurrent writers queue instead of racing. On
SQLite ``select_for_update`` is a no-op and the IMMEDIATE transaction mode
takes the database write lock at BEGIN instead.
"""

from collections.abc import Iterable

from ..models import Account


def lock_accounts(account_ids: Iterable[int]) -> dict[int, Account]:
    """Lock the given accounts (pk order, no_key so FK inserts still pass).

    ``of=("self",)``: only the account rows. Without it the joined plan row is
    locked too, so every tenant on a plan queues on one row, and multi-account
    batches deadlock on it (tests/concurrency, spanning several accounts).
    """
    rows = (
        Account.objects.select_for_update(no_key=True, of=("self",))
        .select_related("plan")
        .filter(pk__in=sorted(set(account_ids)))
        .order_by("pk")
    )
    return {account.pk: account for account in rows}


def lock_account(account: Account) -> Account:
    return lock_accounts([account.pk])[account.pk]
