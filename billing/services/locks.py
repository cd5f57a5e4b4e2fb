"""Row locks on billing accounts: the one serialisation point per tenant.

Every write that checks a limit locks the account row first, in pk order
when it needs several, so concurrent writers queue instead of racing. On
SQLite ``select_for_update`` is a no-op and the IMMEDIATE transaction mode
takes the database write lock at BEGIN instead.
"""

from collections.abc import Iterable

from django.db import connection
from django.db.models import Q

from ..db import any_of
from ..models import Account


def lock_accounts(
    account_ids: Iterable[int], *, external_ids: Iterable[str] = ()
) -> dict[int, Account]:
    """Lock the given accounts (pk order, no_key so FK inserts still pass).

    ``external_ids`` names more accounts by the platform's id, so a caller can
    look accounts up and lock them in one statement. ``of=("self",)``: only
    the account rows. Without it the joined plan row is locked too, so every
    tenant on a plan queues on one row, and multi-account batches deadlock on
    it (tests/concurrency, spanning several accounts).
    """
    wanted = Q(pk__in=any_of(sorted(set(account_ids))))
    external_ids = sorted(set(external_ids))
    if external_ids:
        wanted |= Q(external_id__in=any_of(external_ids, db_type="text"))
    rows = (
        Account.objects.select_for_update(no_key=True, of=("self",))
        .select_related("plan")
        .filter(wanted)
        .order_by("pk")
    )
    return {account.pk: account for account in rows}


def lock_account(account: Account) -> Account:
    return lock_accounts([account.pk])[account.pk]


def lock_account_row(*, account_id: int) -> None:
    """Lock one account row (the hot allocation path: a plain statement)."""
    if connection.vendor != "postgresql":
        return  # SQLite's IMMEDIATE transaction holds the write lock already
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {Account._meta.db_table} WHERE id = %s FOR NO KEY UPDATE",
            [account_id],
        )
