"""Billing accounts: the tenant every usage, grant and charge belongs to.

One per user and one per company. An account created by the platform through
the API may have no owner yet: it is attached when its user signs up (by
e-mail) or when staff assign a company.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from .meters import Plan


class Account(models.Model):
    class Kind(models.TextChoices):
        USER = "user", "Personal"
        COMPANY = "company", "Company"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=200)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="billing_account",
    )
    company = models.OneToOneField(
        "accounts.Company",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="billing_account",
    )
    external_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    email = models.EmailField(
        blank=True,
        help_text="For accounts the platform created before the user signed up.",
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="accounts")
    hard_blocked = models.BooleanField(
        default=False, help_text="Staff hard block: every metered request is denied."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        permissions = [("block_account", "Can hard-block and unblock accounts")]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="user", company__isnull=True)
                    | models.Q(kind="company", user__isnull=True)
                ),
                name="account_owner_matches_kind",
            )
        ]

    def __str__(self) -> str:
        return self.name
