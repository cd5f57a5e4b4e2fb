"""Overage consents: the user's recorded yes, with a spending cap.

No overage is charged without one. A consent covers its own period, and
every later one when ``recurring``, until revoked. At most one live consent
per account and meter: giving a new one revokes the old.
"""

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ..units import format_cents
from .accounts import Account
from .meters import Meter


class OverageConsent(models.Model):
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="consents"
    )
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT)
    cap_cents = models.PositiveBigIntegerField()
    period_start = models.DateField()
    recurring = models.BooleanField(default=False)
    given_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    given_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-given_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(cap_cents__gt=0), name="consent_cap_positive"
            ),
            models.UniqueConstraint(
                fields=["account", "meter"],
                condition=Q(revoked_at__isnull=True),
                name="consent_single_live",
            ),
        ]

    def __str__(self) -> str:
        cap = format_cents(self.cap_cents, settings.BILLING_CURRENCY)
        return f"{self.account} {self.meter.name}, cap {cap}"

    def covers(self, period_start: date) -> bool:
        if self.recurring:
            return self.period_start <= period_start
        return self.period_start == period_start
