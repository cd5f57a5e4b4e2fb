"""Revenue-share policy, the earnings ledger and payouts.

``EarningLine`` is append-only like the charge ledger: each sale writes one
line per (theme, tier) it touches, and a refund writes the negated twin of
each line. The database holds creator + platform == gross on every row.
A line's ``month`` is the payout month it counts in; its gross counts in the
tier basis of its sale's year, which for a refund is the reversed line's
``month`` (``selectors.earnings.tier_basis_cents``).
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from ..revenue import PolicyTerms, Tier
from .sales import Sale
from .themes import Theme


class RevenuePolicy(models.Model):
    """The tiers and cap in effect from ``effective_from`` until the next policy."""

    name = models.CharField(max_length=120)
    effective_from = models.DateTimeField(default=timezone.now)
    monthly_cap_cents = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Most a creator is paid for one month; the excess is carried "
        "to the next month. Empty: no cap.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-effective_from", "-pk"]
        verbose_name_plural = "revenue policies"

    def __str__(self) -> str:
        return self.name

    def terms(self) -> PolicyTerms:
        tiers = sorted(
            self.tiers.all(),
            key=lambda t: (t.up_to_cents is None, t.up_to_cents or 0),
        )
        return PolicyTerms(
            tiers=tuple(
                Tier(up_to_cents=t.up_to_cents, creator_percent=t.creator_percent)
                for t in tiers
            ),
            monthly_cap_cents=self.monthly_cap_cents,
        )


class RevenueTier(models.Model):
    policy = models.ForeignKey(
        RevenuePolicy, on_delete=models.CASCADE, related_name="tiers"
    )
    up_to_cents = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Yearly gross sales (cents) this rate applies up to. "
        "Empty: everything beyond the previous tier.",
    )
    creator_percent = models.DecimalField(max_digits=5, decimal_places=2)

    class Meta:
        ordering = [F("up_to_cents").asc(nulls_last=True)]
        constraints = [
            models.CheckConstraint(
                condition=Q(creator_percent__gte=0, creator_percent__lte=100),
                name="tier_percent_range",
            ),
            models.UniqueConstraint(
                fields=["policy", "up_to_cents"], name="tier_unique_ceiling"
            ),
            models.UniqueConstraint(
                fields=["policy"],
                condition=Q(up_to_cents__isnull=True),
                name="tier_one_open_ended",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.creator_percent}% up to {self.up_to_cents or '∞'}"


class EarningLine(models.Model):
    class Kind(models.TextChoices):
        SALE = "sale", "Sale"
        REFUND = "refund", "Refund"

    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="earning_lines"
    )
    sale = models.ForeignKey(Sale, on_delete=models.PROTECT, related_name="earnings")
    theme = models.ForeignKey(Theme, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.SALE)
    month = models.DateField(help_text="First day of the month (UTC) it counts in.")
    tier = models.PositiveSmallIntegerField()
    creator_percent = models.DecimalField(max_digits=5, decimal_places=2)
    gross_cents = models.BigIntegerField()
    creator_cents = models.BigIntegerField()
    platform_cents = models.BigIntegerField()
    held_cents = models.BigIntegerField(
        default=0, help_text="Part of the creator share the monthly cap carried over."
    )
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversal"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["creator", "month"]),
            models.Index(fields=["creator", "created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(gross_cents=F("creator_cents") + F("platform_cents")),
                name="earning_shares_sum_to_gross",
            ),
            models.CheckConstraint(
                condition=Q(
                    kind="sale",
                    reverses__isnull=True,
                    creator_cents__gte=0,
                    platform_cents__gte=0,
                    held_cents__gte=0,
                    held_cents__lte=F("creator_cents"),
                )
                | Q(
                    kind="refund",
                    reverses__isnull=False,
                    creator_cents__lte=0,
                    platform_cents__lte=0,
                    held_cents=0,
                ),
                name="earning_signs_by_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.theme}: {self.creator_cents}c"


class Payout(models.Model):
    """Money staff paid a creator (recorded after the bank transfer)."""

    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts"
    )
    amount_cents = models.PositiveBigIntegerField()
    reference = models.CharField(max_length=100, blank=True)
    paid_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-paid_at"]
        permissions = [("view_payouts", "Can see the payouts due to creators")]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_cents__gt=0), name="payout_positive"
            )
        ]

    def __str__(self) -> str:
        return f"{self.amount_cents}c to {self.creator}"
