"""The charge ledger: append-only, like a bank statement.

Rows are never deleted and their amounts never change; only ``status`` moves
forward (pending -> paid/failed/void). A refund is a new negative row that
points at the original. A database trigger backs this up (migration 0002).
"""

from datetime import UTC

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ..units import format_cents
from .accounts import Account
from .meters import Meter
from .packs import Purchase


class ChargeRecord(models.Model):
    class Kind(models.TextChoices):
        CAPACITY_PACK = "capacity_pack", "Capacity pack"
        SLOT_PACK = "slot_pack", "Slot pack"
        RENEWAL = "renewal", "Renewal"
        OVERAGE = "overage", "Overage"
        THEME = "theme", "Theme"
        BUNDLE = "bundle", "Bundle"
        REFUND = "refund", "Refund"
        ADJUSTMENT = "adjustment", "Adjustment"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        VOID = "void", "Void"

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="charges"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount_cents = models.BigIntegerField(help_text="Negative for refunds.")
    currency = models.CharField(max_length=3, default="USD")
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.PENDING
    )
    idempotency_key = models.CharField(max_length=120, unique=True)
    description = models.CharField(max_length=255, blank=True)
    purchase = models.ForeignKey(
        Purchase,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="charges",
    )
    refund_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )
    meter = models.ForeignKey(Meter, null=True, blank=True, on_delete=models.PROTECT)
    period_start = models.DateField(null=True, blank=True)
    gateway_reference = models.CharField(max_length=100, blank=True)
    failure_reason = models.CharField(max_length=255, blank=True)
    # Refunds keep two texts apart: the reason the customer reads next to the
    # refund, and the staff's internal note, shown in admin only.
    customer_reason = models.CharField(max_length=255, blank=True)
    staff_note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [("refund_charge", "Can refund charges and theme sales")]
        indexes = [
            models.Index(fields=["account", "-created_at"]),
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["kind", "created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "meter", "period_start"],
                condition=Q(kind="overage"),
                name="charge_one_overage_per_period",
            ),
            models.UniqueConstraint(
                fields=["refund_of"],
                condition=Q(kind="refund"),
                name="charge_single_refund",
            ),
            models.CheckConstraint(
                condition=Q(kind="refund", amount_cents__lt=0, refund_of__isnull=False)
                | (~Q(kind="refund") & Q(amount_cents__gte=0)),
                name="charge_refunds_are_negative",
            ),
        ]

    def __str__(self) -> str:
        """What staff read: "Slot pack: 5 job slots · $25.00 · 3 Jun 2026 · paid"."""
        kind = self.get_kind_display()
        what = self.description or kind
        if kind.lower() not in what.lower():  # "Theme: Aurora" names its kind
            what = f"{kind}: {what}"
        day = self.created_at.astimezone(UTC)
        money = format_cents(self.amount_cents, self.currency)
        status = self.get_status_display().lower()
        return f"{what} · {money} · {day.day} {day:%b %Y} · {status}"
