"""Alerts shown as dashboard banners and e-mailed to the account owner.

One per (account, meter, kind, period, reference): ``dedupe_key`` holds that
tuple so a repeated evaluation inserts nothing.
"""

from django.db import models
from django.utils import timezone

from .accounts import Account
from .meters import Meter


class Alert(models.Model):
    class Kind(models.TextChoices):
        WARNING_80 = "warning_80", "80% of the limit used"
        EXCEEDED = "exceeded", "Limit reached"
        BLOCKED = "blocked", "Blocked"
        EXPIRING_SOON = "expiring_soon", "Pack expiring soon"
        EXPIRED = "expired", "Pack expired"
        SUSPENDED = "suspended", "Job postings suspended"

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="alerts"
    )
    meter = models.ForeignKey(Meter, null=True, blank=True, on_delete=models.PROTECT)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    period_start = models.DateField()
    reference = models.CharField(max_length=60, blank=True)
    dedupe_key = models.CharField(max_length=200, unique=True)
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    emailed_at = models.DateTimeField(null=True, blank=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["account", "dismissed_at"])]

    def __str__(self) -> str:
        return f"{self.account}: {self.message}"
