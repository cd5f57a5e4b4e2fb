"""Outstanding balances by age, at any instant."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Min, Q, Sum

from accounts.models import User

from ..models import (
    ChargeRecord,
)
from ..permissions import VIEW_ANALYTICS, check_staff_power

AGING_BUCKETS = ("0-30", "31-60", "61-90", "90+")


@dataclass(frozen=True, slots=True)
class BalanceRow:
    account_id: int
    account_name: str
    total: int
    buckets: dict[str, int]
    oldest: datetime


@dataclass(frozen=True, slots=True)
class BalancesReport:
    rows: list[BalanceRow]  # oldest debt first, at most ``limit``
    accounts: int
    total: int
    buckets: dict[str, int]


def _aging(at: datetime) -> dict[str, Q]:
    """Age in whole days since the charge: 0-30, 31-60, 61-90, over 90."""
    d31, d61, d91 = (at - timedelta(days=n) for n in (31, 61, 91))
    return {
        "0-30": Q(created_at__gt=d31),
        "31-60": Q(created_at__gt=d61, created_at__lte=d31),
        "61-90": Q(created_at__gt=d91, created_at__lte=d61),
        "90+": Q(created_at__lte=d91),
    }


def outstanding_balances(
    *, viewer: User, at: datetime, limit: int | None = 200
) -> BalancesReport:
    """Accounts owing charges at ``at``, by age bucket, oldest debt first.

    Owed at ``at``: created by then and still pending, or paid only later
    (``paid_at``), so a past date shows what was owed then. Voided charges are
    left out (when they were voided is not recorded). Needs
    ``billing.view_analytics``.
    """
    check_staff_power(actor=viewer, permission=VIEW_ANALYTICS)
    pending = ChargeRecord.objects.filter(
        Q(status=ChargeRecord.Status.PENDING)
        | Q(status=ChargeRecord.Status.PAID, paid_at__gt=at),
        created_at__lte=at,
    ).exclude(kind=ChargeRecord.Kind.REFUND)
    aging = _aging(at)
    sums = {
        f"b{n}": Sum("amount_cents", filter=q) for n, q in enumerate(aging.values())
    }
    grouped: Any = (
        # Any: the bucket columns are named at run time.
        pending.values("account_id", "account__name")
        .annotate(total=Sum("amount_cents"), oldest=Min("created_at"), **sums)
        .order_by("oldest", "account_id")
    )
    if limit is not None:
        grouped = grouped[:limit]
    rows = [
        BalanceRow(
            account_id=r["account_id"],
            account_name=r["account__name"],
            total=int(r["total"]),
            buckets={
                name: int(r[f"b{n}"] or 0) for n, name in enumerate(AGING_BUCKETS)
            },
            oldest=r["oldest"],
        )
        for r in grouped
    ]
    totals = pending.aggregate(
        total=Sum("amount_cents"), accounts=Count("account_id", distinct=True), **sums
    )
    return BalancesReport(
        rows=rows,
        accounts=totals["accounts"] or 0,
        total=int(totals["total"] or 0),
        buckets={
            name: int(totals[f"b{n}"] or 0) for n, name in enumerate(AGING_BUCKETS)
        },
    )
