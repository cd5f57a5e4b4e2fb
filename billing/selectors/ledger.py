"""Charges, balances, receipts and what a payment would settle."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet, Sum
from django.utils.crypto import salted_hmac

from ..errors import NotFound
from ..models import (
    Account,
    ChargeRecord,
    Meter,
)
from ..quotas.facts import period_overage_from_facts
from ..units import Period, period_of


def outstanding_balance_cents(*, account: Account) -> int:
    """Sum of pending charges: what the account owes right now."""
    return (
        account.charges.filter(status=ChargeRecord.Status.PENDING).aggregate(
            total=Sum("amount_cents")
        )["total"]
        or 0
    )


def list_charges(*, account: Account) -> QuerySet[ChargeRecord]:
    """The account's ledger, newest first, each row with its refunds, invoice
    and credit note at hand."""
    return (
        account.charges.select_related(
            "refund_of", "purchase__pack", "meter", "invoice", "credit_note"
        )
        .prefetch_related("refunds")
        .order_by("-created_at", "-pk")
    )


# Pack purchases and renewals are documented by their purchase's receipt;
# every other charge by a page of its own.
PURCHASE_CHARGE_KINDS = (
    ChargeRecord.Kind.CAPACITY_PACK,
    ChargeRecord.Kind.SLOT_PACK,
    ChargeRecord.Kind.RENEWAL,
)


_CHARGE_PURPOSES: dict[str, str] = {
    ChargeRecord.Kind.CAPACITY_PACK: "Capacity pack purchase",
    ChargeRecord.Kind.SLOT_PACK: "Job-slot pack purchase",
    ChargeRecord.Kind.RENEWAL: "Pack renewal",
    ChargeRecord.Kind.OVERAGE: "Overage",
    ChargeRecord.Kind.THEME: "Theme from the store",
    ChargeRecord.Kind.BUNDLE: "Theme bundle from the store",
    ChargeRecord.Kind.REFUND: "Refund",
    ChargeRecord.Kind.ADJUSTMENT: "Account adjustment",
}


def receipt_purchase_id(*, charge: ChargeRecord) -> int | None:
    """The purchase whose receipt documents this charge, if that is its document."""
    if charge.kind in PURCHASE_CHARGE_KINDS:
        return charge.purchase_id
    return None


def get_charge_for_account(*, account: Account, charge_id: int) -> ChargeRecord:
    """One of the account's charges; another account's is not found (a 404)."""
    try:
        return account.charges.select_related(
            "meter",
            "purchase__pack",
            "refund_of",
            "created_by",
            "invoice",
            "credit_note",
        ).get(pk=charge_id)
    except ChargeRecord.DoesNotExist:
        raise NotFound("No such charge on this account.") from None


@dataclass(frozen=True, slots=True)
class OverageBasis:
    """The figures an overage charge was computed from, in the meter's unit.

    Storage counts the mean level above the limit over the period's days.
    """

    consented: int  # excess used while a consent was live
    unconsented: int  # excess without a live consent: never billed
    cost_cents: int  # the consented excess at the price, before the cap
    cap_cents: int | None
    billed_cents: int
    is_gauge: bool
    days: int


@dataclass(frozen=True, slots=True)
class ChargeDocument:
    charge: ChargeRecord
    purpose: str  # the kind in words
    period: Period | None  # an overage charge's billing period
    overage: OverageBasis | None  # None when the facts do not give the amount
    refunds: list[ChargeRecord]


def _overage_basis(charge: ChargeRecord, period: Period) -> OverageBasis | None:
    """Recompute the close from the facts as known when the charge was made.

    Shown only when it gives the amount charged again: a figure that does
    not add up to the charge would mislead more than no figure.
    """
    meter = charge.meter
    if meter is None:
        return None
    figures = period_overage_from_facts(
        account=charge.account, meter=meter, period=period, known_at=charge.created_at
    )
    if figures.billable_cents != charge.amount_cents:
        return None
    is_gauge = meter.kind == Meter.Kind.GAUGE
    per = period.days if is_gauge else 1
    unconsented = max(figures.excess_units - figures.consented_units, Decimal(0))
    return OverageBasis(
        consented=int(figures.consented_units / per),
        unconsented=int(unconsented / per),
        cost_cents=figures.consented_cents,
        cap_cents=figures.cap_cents,
        billed_cents=figures.billable_cents,
        is_gauge=is_gauge,
        days=period.days,
    )


def charge_document(*, charge: ChargeRecord) -> ChargeDocument:
    """What a charge's receipt page says: what it is for and, for overage,
    the usage and price it was computed from."""
    purpose = _CHARGE_PURPOSES.get(charge.kind, charge.get_kind_display())
    period = overage = None
    if (
        charge.kind == ChargeRecord.Kind.OVERAGE
        and charge.meter is not None
        and charge.period_start is not None
    ):
        period = period_of(charge.period_start)
        purpose = f"Overage on {charge.meter.name}, {period.start:%B %Y}"
        overage = _overage_basis(charge, period)
    return ChargeDocument(
        charge=charge,
        purpose=purpose,
        period=period,
        overage=overage,
        refunds=list(charge.refunds.order_by("created_at", "pk")),
    )


@dataclass(frozen=True, slots=True)
class PayPreview:
    charges: list[ChargeRecord]  # pending, oldest first
    total_cents: int
    token: str  # names exactly this set of charges

    @property
    def payable(self) -> bool:
        """As ``pay_outstanding_balance`` decides: something pending, owing > 0."""
        return bool(self.charges) and self.total_cents > 0


def pay_preview(*, account: Account) -> PayPreview:
    """The pending charges a payment would collect now, and a token naming them.

    The token changes whenever the pending set does: a confirmation pays
    only the list it showed, and a resubmitted one no longer matches.
    """
    charges = list(
        account.charges.filter(status=ChargeRecord.Status.PENDING).order_by(
            "created_at", "pk"
        )
    )
    ids = ",".join(str(charge.pk) for charge in charges)
    token = salted_hmac("billing.pay_preview", f"{account.pk}:{ids}").hexdigest()
    return PayPreview(
        charges=charges,
        total_cents=sum(charge.amount_cents for charge in charges),
        token=token[:32],
    )


@dataclass(frozen=True, slots=True)
class SettledCharges:
    count: int
    total_cents: int
    paid_at: datetime | None


def settled_charges(
    *, account: Account, charge_ids: Iterable[int]
) -> SettledCharges | None:
    """These charges of the account, when every one of them is paid.

    A confirmation sent twice finds the charges it listed settled by the
    first: the page reports that payment instead of paying again.
    """
    ids = set(charge_ids)
    if not ids:
        return None
    rows = list(
        account.charges.filter(pk__in=ids).values_list(
            "status", "amount_cents", "paid_at"
        )
    )
    if len(rows) != len(ids) or any(
        status != ChargeRecord.Status.PAID for status, _, _ in rows
    ):
        return None
    paid = [paid_at for _, _, paid_at in rows if paid_at is not None]
    return SettledCharges(
        count=len(rows),
        total_cents=sum(amount for _, amount, _ in rows),
        paid_at=max(paid, default=None),
    )
