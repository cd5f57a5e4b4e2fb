"""Daily per-meter rollups of the snapshots, for staff analytics.

One row per (meter, day) summarises every account's snapshot of that day:
total usage, how many accounts sit in each utilisation band, and the excess
that will not be billed (used without a live consent, or past the cap). The
snapshot service keeps them current, so the analytics pages read a few
hundred rows instead of aggregating millions of snapshots per request.
"""

from django.db import models

from .meters import Meter


class UsageRollup(models.Model):
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    accounts = models.PositiveIntegerField(default=0)
    # Sums over every account can pass a 64-bit integer (accounts may each
    # hold up to 10^18): whole numbers in a wide decimal.
    total_used = models.DecimalField(
        max_digits=38,
        decimal_places=0,
        default=0,
        help_text="Sum over accounts: end-of-day level (gauges) or month to date.",
    )
    under_50 = models.PositiveIntegerField(default=0)
    from_50_to_80 = models.PositiveIntegerField(default=0)
    from_80_to_100 = models.PositiveIntegerField(default=0)
    over_with_consent = models.PositiveIntegerField(default=0)
    over_without_consent = models.PositiveIntegerField(default=0)
    unbilled_excess = models.DecimalField(
        max_digits=38,
        decimal_places=0,
        default=0,
        help_text="Excess not billed (no live consent, or past the cap), in the unit.",
    )

    class Meta:
        ordering = ["day", "meter"]
        permissions = [("view_analytics", "Can see the staff analytics pages")]
        constraints = [
            models.UniqueConstraint(fields=["meter", "day"], name="rollup_unique_day")
        ]
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.day}: {self.total_used}"
