"""The payment gateway boundary and paying what an account owes.

The gateway is chosen by ``BILLING_PAYMENT_GATEWAY``. The default sandbox
approves everything unless ``BILLING_SANDBOX_DECLINE`` is on, so tests and
demos can show a decline without a card network.
"""

import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.models import User

from ..documents import ChargeQuote
from ..errors import ConfirmationRequired, PaymentDeclined, PermissionDenied
from ..models import Account, ChargeRecord, Purchase
from ..selectors import can_manage_account
from ..units import format_cents
from .locks import lock_account


@dataclass(frozen=True, slots=True)
class PaymentResult:
    approved: bool
    reference: str = ""
    decline_reason: str = ""


class PaymentGateway(Protocol):
    def charge(
        self, *, amount_cents: int, currency: str, reference: str
    ) -> PaymentResult: ...

    def refund(
        self, *, amount_cents: int, currency: str, reference: str
    ) -> PaymentResult: ...


class SandboxGateway:
    """Approves every payment, or declines all while BILLING_SANDBOX_DECLINE is on."""

    def charge(
        self, *, amount_cents: int, currency: str, reference: str
    ) -> PaymentResult:
        if settings.BILLING_SANDBOX_DECLINE:
            return PaymentResult(
                approved=False,
                decline_reason="The card was declined (sandbox decline mode).",
            )
        return PaymentResult(approved=True, reference=f"sbx_{secrets.token_hex(8)}")

    def refund(
        self, *, amount_cents: int, currency: str, reference: str
    ) -> PaymentResult:
        return PaymentResult(approved=True, reference=f"sbx_rf_{secrets.token_hex(8)}")


def get_gateway() -> PaymentGateway:
    return import_string(settings.BILLING_PAYMENT_GATEWAY)()


@dataclass(frozen=True, slots=True)
class Payment:
    paid_cents: int
    charges: int


def require_price_shown(
    *, shown_cents: int | None, price_cents: int, what: str
) -> None:
    """Refuse to charge a total other than the one the buyer confirmed.

    ``shown_cents`` is the total (tax included) on the confirmation page
    (None: the caller showed none, e.g. the demo seed). Checked under the
    buyer's lock, so a price changed by staff or a creator, or a new tax
    rate, after the page was shown charges nothing; the page is shown again
    with the new total.
    """
    if shown_cents is not None and shown_cents != price_cents:
        currency = settings.BILLING_CURRENCY
        raise ConfirmationRequired(
            f"The total for {what} changed from {format_cents(shown_cents, currency)}"
            f" to {format_cents(price_cents, currency)} since this page was shown"
            " (its price or the tax rate changed)."
            " Nothing was charged: check the new price and confirm again.",
            details={"price_cents": price_cents},
        )


def pay_outstanding_balance(
    *,
    account: Account,
    actor: User,
    expected_charge_ids: Collection[int] | None = None,
    at: datetime | None = None,
) -> Payment:
    """Collect every pending charge in one gateway payment.

    Under the account lock the pending set cannot change, and the status
    update is conditional, so a double click pays once. A decline changes
    nothing and raises PaymentDeclined. With ``expected_charge_ids`` (what
    the payer was shown), a pending set that differs raises
    ``ConfirmationRequired`` and nothing is paid.
    """
    if not can_manage_account(user=actor, account=account):
        raise PermissionDenied("Only the account's owners and admins can pay.")
    with transaction.atomic():
        account = lock_account(account)
        pending = account.charges.filter(status=ChargeRecord.Status.PENDING)
        ids = list(pending.values_list("pk", flat=True))
        if expected_charge_ids is not None and set(ids) != set(expected_charge_ids):
            raise ConfirmationRequired(
                "The charges due changed since they were shown; nothing was paid."
            )
        total = pending.aggregate(total=Sum("amount_cents"))["total"] or 0
        if not ids or total <= 0:
            return Payment(paid_cents=0, charges=0)
        result = get_gateway().charge(
            amount_cents=total,
            currency=settings.BILLING_CURRENCY,
            reference=f"balance:{account.pk}:{min(ids)}-{max(ids)}",
        )
        if not result.approved:
            raise PaymentDeclined(result.decline_reason or "The payment was declined.")
        paid = ChargeRecord.objects.filter(
            pk__in=ids, status=ChargeRecord.Status.PENDING
        ).update(
            status=ChargeRecord.Status.PAID,
            paid_at=at or timezone.now(),
            gateway_reference=result.reference,
        )
    return Payment(paid_cents=total, charges=paid)


def charge_and_pay(
    *,
    account: Account,
    kind: str,
    quote: ChargeQuote,
    idempotency_key: str,
    description: str,
    actor: User | None = None,
    at: datetime | None = None,
    purchase: Purchase | None = None,
) -> ChargeRecord:
    """Charge the quote's gross and collect it, in the caller's transaction.

    The charge is pending until the gateway answers, then paid or failed
    (with the decline reason). Callers hold the account lock, make the sale
    idempotent (the charge's unique key is the database backstop) and issue
    an approved charge's invoice as their last step (``issue_invoice``).
    """
    at = at or timezone.now()
    charge = ChargeRecord.objects.create(
        account=account,
        kind=kind,
        amount_cents=quote.gross_cents,
        currency=settings.BILLING_CURRENCY,
        status=ChargeRecord.Status.PENDING,
        idempotency_key=idempotency_key,
        description=description[:255],
        purchase=purchase,
        created_by=actor if getattr(actor, "pk", None) else None,
        created_at=at,
    )
    result = get_gateway().charge(
        amount_cents=quote.gross_cents,
        currency=settings.BILLING_CURRENCY,
        reference=idempotency_key,
    )
    if not result.approved:
        charge.status = ChargeRecord.Status.FAILED
        charge.failure_reason = result.decline_reason[:255]
        charge.save(update_fields=["status", "failure_reason"])
        return charge
    charge.status = ChargeRecord.Status.PAID
    charge.paid_at = at
    charge.gateway_reference = result.reference
    charge.save(update_fields=["status", "paid_at", "gateway_reference"])
    return charge
