"""The audit trail: who changed money, limits or listings, when, and why.

Every staff power that changes something (refunds, grant adjustments and
revocations, theme reviews, account blocks and edits) and every staff edit
of prices and listings (packs, meters, plans, bundles, revenue policies,
recorded payouts) writes one entry from its service, in the same
transaction as the change: the change and its record commit together or
not at all. The two read powers (viewing analytics, viewing payouts) change
nothing and write no entry. Entries are append-only, like the charge
ledger; a database trigger refuses UPDATE and DELETE (migration 0009), so a
mistake is answered by a new change with its own entry.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from .accounts import Account


class AuditEntry(models.Model):
    class Action(models.TextChoices):
        REFUND = "refund", "Refund"
        GRANT_ADJUSTED = "grant_adjusted", "Adjustment grant added"
        GRANT_REVOKED = "grant_revoked", "Grant revoked"
        THEME_APPROVED = "theme_approved", "Theme approved"
        THEME_REJECTED = "theme_rejected", "Theme rejected"
        ACCOUNT_BLOCKED = "account_blocked", "Account blocked"
        ACCOUNT_UNBLOCKED = "account_unblocked", "Account block lifted"
        ACCOUNT_CHANGED = "account_changed", "Account changed"
        ACCOUNT_CLAIMED = "account_claimed", "Company account claimed"
        PACK_CREATED = "pack_created", "Pack created"
        PACK_CHANGED = "pack_changed", "Pack changed"
        METER_CREATED = "meter_created", "Meter created"
        PLAN_CREATED = "plan_created", "Plan created"
        # A change (not the creation) of a meter or a plan.
        PRICE_CHANGED = "price_changed", "Meter or plan changed"
        BUNDLE_CREATED = "bundle_created", "Bundle created"
        BUNDLE_CHANGED = "bundle_changed", "Bundle changed"
        BUNDLE_DELETED = "bundle_deleted", "Bundle deleted"
        REVENUE_POLICY_CREATED = "revenue_policy_created", "Revenue policy created"
        REVENUE_POLICY_CHANGED = "revenue_policy_changed", "Revenue policy changed"
        REVENUE_POLICY_DELETED = "revenue_policy_deleted", "Revenue policy deleted"
        PAYOUT_RECORDED = "payout_recorded", "Payout recorded"
        TAX_RATE_CREATED = "tax_rate_created", "Tax rate added"
        TAX_RATE_CHANGED = "tax_rate_changed", "Tax rate changed"
        TAX_RATE_DELETED = "tax_rate_deleted", "Tax rate deleted"
        BILLING_DETAILS_CHANGED = "billing_details_changed", "Billing details changed"

    at = models.DateTimeField(help_text="When the change took effect (UTC).")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        # Kept for as long as the record: deactivate staff, never delete them.
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty: the system (a command or the seed), not a person.",
    )
    action = models.CharField(max_length=24, choices=Action.choices)
    target_type = models.CharField(
        max_length=100, help_text="app_label.model of the changed row."
    )
    target_id = models.CharField(max_length=64)
    target_repr = models.CharField(max_length=200)
    account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_entries",
    )
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["-at"]),
            models.Index(fields=["account", "-at"]),
            models.Index(fields=["target_type", "target_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.target_repr}"
