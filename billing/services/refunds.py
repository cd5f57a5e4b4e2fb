"""Refunds and voids of a paid or pending charge.

A refund is a new negative ledger row with its credit note (the charge
itself only changes status); a pending charge is voided instead. A
refunded purchase's grants end at the refund's instant: what they covered
before stays covered.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import User

from ..errors import (
    AlreadyRefunded,
    InvalidRequest,
)
from ..models import (
    Account,
    AuditEntry,
    ChargeRecord,
    Grant,
    Purchase,
)
from ..permissions import REFUND_CHARGE, check_staff_power
from ..units import format_cents
from .audit import record_audit
from .documents import issue_credit_note
from .grants import apply_new_capacity
from .locks import lock_account
from .payments import get_gateway
from .webhook_events import record_events, refund_event

SALE_KINDS = (ChargeRecord.Kind.THEME, ChargeRecord.Kind.BUNDLE)


def refund_charge(
    *,
    charge: ChargeRecord,
    actor: User | None,
    amount_cents: int | None = None,
    customer_reason: str = "",
    staff_note: str = "",
    for_sale: bool = False,
    at: datetime | None = None,
) -> ChargeRecord:
    """Refund a charge: a negative row pointing at it, and its purchase's grants end.

    ``amount_cents`` (1 to the amount charged) defaults to the full price;
    either way the grants end now. A pending charge is voided whole instead
    (nothing was collected). ``customer_reason`` is shown to
    the customer, ``staff_note`` only in admin; ``at`` is the refund's
    instant (now by default). The
    original row keeps its amount: the ledger is append-only. Theme and
    bundle charges are refunded only through their sale (``for_sale``), which
    also ends the licences and reverses the creator's earnings, and records
    the refund on the sale. Needs ``billing.refund_charge``; the actor has
    no default: the system passes None explicitly.
    """
    check_staff_power(actor=actor, permission=REFUND_CHARGE, allow_system=True)
    if amount_cents is not None and (
        isinstance(amount_cents, bool) or not isinstance(amount_cents, int)
    ):
        raise InvalidRequest("A refund amount is a whole number of cents.")
    texts = _RefundTexts(
        customer_reason=customer_reason.strip()[:255],
        staff_note=staff_note.strip(),
    )
    with transaction.atomic():
        account = lock_account(charge.account)
        charge = ChargeRecord.objects.select_related("purchase").get(pk=charge.pk)
        amount_cents = _refund_amount(charge, amount_cents, for_sale=for_sale)
        now = at or timezone.now()
        before = {"status": charge.status, "amount_cents": charge.amount_cents}
        if charge.status == ChargeRecord.Status.PENDING:
            result_row = _void(charge, texts=texts)
            credit_reason = texts.customer_reason or "Charge cancelled before payment"
        else:
            result_row = _pay_back(
                charge, amount_cents, texts=texts, actor=actor, at=now
            )
            credit_reason = texts.customer_reason or _refund_label(charge, amount_cents)
        revoked = _end_purchase_grants(account=account, charge=charge, at=now)
        if not for_sale:  # refund_sale records the sale's refund as a whole
            record_audit(
                action=AuditEntry.Action.REFUND,
                actor=actor,
                target=charge,
                at=now,
                account=account,
                before=before,
                after={
                    "status": charge.status,
                    "refunded_cents": 0 if result_row is charge else amount_cents,
                    "refund_id": result_row.pk,
                    "grants_revoked": [g.pk for g in revoked],
                    "staff_note": texts.staff_note,
                },
                reason=texts.customer_reason,
            )
        # Numbered last, so the credit notes' sequence is held only briefly.
        issue_credit_note(
            charge=result_row,
            credited=charge,
            gross_cents=amount_cents,
            reason=credit_reason,
            at=now,
        )
        record_events(
            specs=[
                refund_event(
                    original=charge,
                    refund=None if result_row is charge else result_row,
                    amount_cents=amount_cents,
                    reason=credit_reason,
                    at=now,
                )
            ]
        )
    return result_row


@dataclass(frozen=True, slots=True)
class _RefundTexts:
    customer_reason: str  # shown to the customer
    staff_note: str  # admin only


def _refund_amount(
    charge: ChargeRecord, amount_cents: int | None, *, for_sale: bool
) -> int:
    """The amount to refund (the full charge by default), or why not."""
    if charge.kind == ChargeRecord.Kind.REFUND:
        raise InvalidRequest("A refund cannot be refunded.")
    if charge.kind in SALE_KINDS and not for_sale:
        raise InvalidRequest(
            "Refund theme and bundle purchases from the store's Sales page, so "
            "the licence and the creator's earnings are reversed too."
        )
    if charge.refunds.exists() or charge.status == ChargeRecord.Status.VOID:
        raise AlreadyRefunded("This charge was already refunded or voided.")
    if charge.status == ChargeRecord.Status.FAILED:
        raise InvalidRequest(
            "A failed charge collected nothing; there is nothing to refund."
        )
    full, currency = charge.amount_cents, charge.currency
    if amount_cents is None:
        return full
    if not 1 <= amount_cents <= full:
        raise InvalidRequest(
            f"A refund of this charge is between {format_cents(1, currency)}"
            f" and {format_cents(full, currency)} (the amount charged),"
            f" not {format_cents(amount_cents, currency)}."
        )
    if charge.status == ChargeRecord.Status.PENDING and amount_cents != full:
        raise InvalidRequest(
            "Nothing was collected on a pending charge: it is voided"
            " whole, not refunded in part."
        )
    return amount_cents


def _refund_label(charge: ChargeRecord, amount_cents: int) -> str:
    return "Partial refund" if amount_cents < charge.amount_cents else "Refund"


def _void(charge: ChargeRecord, *, texts: _RefundTexts) -> ChargeRecord:
    """Cancel a pending charge: nothing was collected, nothing goes back."""
    # Like a decline's failure_reason, the texts arrive with the status
    # change; the amount and references stay frozen.
    ChargeRecord.objects.filter(
        pk=charge.pk, status=ChargeRecord.Status.PENDING
    ).update(
        status=ChargeRecord.Status.VOID,
        customer_reason=texts.customer_reason,
        staff_note=texts.staff_note,
    )
    charge.status = ChargeRecord.Status.VOID
    charge.customer_reason, charge.staff_note = texts.customer_reason, texts.staff_note
    return charge


def _pay_back(
    charge: ChargeRecord,
    amount_cents: int,
    *,
    texts: _RefundTexts,
    actor: User | None,
    at: datetime,
) -> ChargeRecord:
    """Return money through the gateway: a negative row pointing at the charge."""
    result = get_gateway().refund(
        amount_cents=amount_cents,
        currency=charge.currency,
        reference=charge.gateway_reference or charge.idempotency_key,
    )
    label = _refund_label(charge, amount_cents)
    return ChargeRecord.objects.create(
        account_id=charge.account_id,
        kind=ChargeRecord.Kind.REFUND,
        amount_cents=-amount_cents,
        currency=charge.currency,
        status=ChargeRecord.Status.PAID,
        idempotency_key=f"refund:{charge.pk}",
        description=f"{label} of {charge.description}"[:255],
        customer_reason=texts.customer_reason,
        staff_note=texts.staff_note,
        refund_of=charge,
        purchase=charge.purchase,
        gateway_reference=result.reference,
        created_by=actor if getattr(actor, "pk", None) else None,
        paid_at=at,
        created_at=at,
    )


def _end_purchase_grants(
    *, account: Account, charge: ChargeRecord, at: datetime
) -> list[Grant]:
    """End the refunded purchase's grants at ``at``; what they covered before
    stays covered."""
    if not charge.purchase_id:
        return []
    Purchase.objects.filter(pk=charge.purchase_id).update(
        status=Purchase.Status.REFUNDED
    )
    revoked = list(
        Grant.objects.filter(
            purchase_id=charge.purchase_id, revoked_at__isnull=True
        ).select_related("meter")
    )
    Grant.objects.filter(pk__in=[g.pk for g in revoked]).update(
        revoked_at=at, reason="Refunded"
    )
    apply_new_capacity(
        account=account,
        meters=list({g.meter for g in revoked}),
        at=at,
        cause=f"the refund of {charge.description}",
    )
    return revoked
