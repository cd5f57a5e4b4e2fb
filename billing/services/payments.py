"""The payment gateway boundary and paying what an account owes.

The gateway is chosen by ``BILLING_PAYMENT_GATEWAY``. The default sandbox
approves everything unless ``BILLING_SANDBOX_DECLINE`` is on, so tests and
demos can show a decline without a card network.
"""

import secrets
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.module_loading import import_string

from ..errors import PaymentDeclined, PermissionDenied
from ..models import Account, ChargeRecord
from ..selectors import can_manage_account
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


def pay_outstanding_balance(*, account: Account, user: object) -> Payment:
    """Collect every pending charge in one gateway payment.

    Under the account lock the pending set cannot change, and the status
    update is conditional, so a double click pays once. A decline changes
    nothing and raises PaymentDeclined.
    """
    if not can_manage_account(user=user, account=account):
        raise PermissionDenied("Only the account's owners and admins can pay.")
    with transaction.atomic():
        account = lock_account(account)
        pending = account.charges.filter(status=ChargeRecord.Status.PENDING)
        ids = list(pending.values_list("pk", flat=True))
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
            paid_at=timezone.now(),
            gateway_reference=result.reference,
        )
    return Payment(paid_cents=total, charges=paid)
