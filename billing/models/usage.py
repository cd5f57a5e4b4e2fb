"""Usage facts and the running totals kept beside them.

``UsageEvent`` is the raw, idempotent record of what the platform reported.
Pages and limits never scan it: every write also bumps ``UsageCounter`` (per
period, for counters) or ``GaugeLevel`` (running level, for gauges) in the
same transaction, and ``UsageSnapshot`` keeps one row per account, meter and
day for history and storage GB-months.
"""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from .accounts import Account
from .meters import Meter


class UsageEvent(models.Model):
    # Ids are the platform's and scoped to their account: two accounts may
    # send the same id (unique together below).
    event_id = models.CharField(max_length=128)
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="usage_events"
    )
    meter = models.ForeignKey(
        Meter, on_delete=models.PROTECT, related_name="usage_events"
    )
    quantity = models.BigIntegerField()
    # The instant the usage counts at. Normally what the platform sent; a
    # storage delta dated in a closed period counts from the open period's
    # first instant instead, and the sent value is kept in
    # ``reported_timestamp``.
    timestamp = models.DateTimeField()
    reported_timestamp = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    properties = models.JSONField(default=dict, blank=True)
    # sha256 of the canonical payload: a resent id with another payload is a
    # conflict, with the same payload a harmless duplicate.
    payload_hash = models.CharField(max_length=64)

    class Meta:
        indexes = [models.Index(fields=["account", "meter", "timestamp"])]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "event_id"], name="usage_event_unique_id"
            )
        ]

    def __str__(self) -> str:
        return self.event_id


class UsageCounter(models.Model):
    """Units used by an account on a counter meter in one billing period."""

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="usage_counters"
    )
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT)
    period_start = models.DateField()
    used = models.BigIntegerField(default=0)
    # Part of ``used`` burned from top-up grants (after the plan allowance).
    covered_by_grants = models.BigIntegerField(default=0)
    # Of the excess no top-up covers, the units used while an overage
    # consent was live: what period close may bill (up to the cap).
    consented_excess = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "meter", "period_start"],
                name="usage_counter_unique_period",
            ),
            models.CheckConstraint(
                condition=Q(used__gte=0), name="usage_counter_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(covered_by_grants__gte=0)
                & Q(covered_by_grants__lte=F("used")),
                name="usage_counter_coverage_within_used",
            ),
            models.CheckConstraint(
                condition=Q(consented_excess__gte=0)
                & Q(consented_excess__lte=F("used")),
                name="usage_counter_consented_within_used",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.account} {self.meter.code} {self.period_start:%Y-%m}: {self.used}"
        )


class GaugeLevel(models.Model):
    """Current level of a gauge meter (storage): the running sum of deltas."""

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="gauge_levels"
    )
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT)
    level = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "meter"], name="gauge_level_unique"
            ),
            models.CheckConstraint(
                condition=Q(level__gte=0), name="gauge_level_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.meter.code}: {self.level}"


class UsageSnapshot(models.Model):
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="snapshots"
    )
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT)
    day = models.DateField()
    used = models.BigIntegerField(
        help_text="Level at the end of the day (gauges) or used so far in the period."
    )
    limit = models.BigIntegerField()
    state = models.CharField(max_length=10)
    # The period's excess so far that will not be billed (used without a
    # live consent, or beyond the cap): counters in units, gauges in
    # unit-months (GB-months for storage, what is priced).
    unbilled_excess = models.BigIntegerField(default=0)
    taken_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["day"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "meter", "day"], name="snapshot_unique_day"
            )
        ]
        indexes = [models.Index(fields=["meter", "day"])]

    def __str__(self) -> str:
        return f"{self.account} {self.meter.code} {self.day}: {self.used}/{self.limit}"


class ClosedPeriod(models.Model):
    """A billing period closed to late counter events; its overage is charged
    once ``charged_at`` is set (a close that died half-way is run again)."""

    period_start = models.DateField(unique=True)
    closed_at = models.DateTimeField(default=timezone.now)
    charged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start"]

    def __str__(self) -> str:
        return f"{self.period_start:%Y-%m}"
