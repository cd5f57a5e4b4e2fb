"""Meters and plans: what is measured, and how much of it each plan includes.

Meters are rows, not code: staff add one in admin and it is metered at once.
A meter with no overage price is a hard limit (job slots).
"""

from decimal import Decimal

from django.db import models

from ..units import format_quantity


class Meter(models.Model):
    class Unit(models.TextChoices):
        BYTE = "byte", "bytes"
        SECOND = "second", "seconds"
        SLOT = "slot", "slots"

    class Kind(models.TextChoices):
        GAUGE = "gauge", "Gauge (signed deltas, running level)"
        COUNTER = "counter", "Counter (resets each period)"
        ALLOCATION = "allocation", "Allocations (active job slots)"

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    unit = models.CharField(max_length=10, choices=Unit.choices)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # Price of one billing quantum (e.g. 10 cents per GB-month of storage,
    # quantum = 10**9 bytes). Null price = hard limit, never billed.
    overage_price_cents = models.PositiveIntegerField(null=True, blank=True)
    price_quantum = models.PositiveBigIntegerField(
        default=1, help_text="Units per priced quantum (10**9 for GB, 60 for minutes)."
    )
    quantum_label = models.CharField(max_length=20, default="unit")
    display_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["display_order", "code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price_quantum__gt=0), name="meter_quantum_positive"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_hard_limit(self) -> bool:
        return self.overage_price_cents is None

    @property
    def is_event_based(self) -> bool:
        return self.kind != self.Kind.ALLOCATION

    @property
    def unit_price_cents(self) -> Decimal:
        """Price of one base unit, exact (a byte costs a fraction of a cent)."""
        if self.overage_price_cents is None:
            return Decimal(0)
        return Decimal(self.overage_price_cents) / Decimal(self.price_quantum)


class Plan(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    is_default = models.BooleanField(
        default=False,
        help_text="New accounts get this plan. Exactly one plan is the default.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="plan_single_default",
            )
        ]

    def __str__(self) -> str:
        return self.name


class PlanAllowance(models.Model):
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="allowances")
    meter = models.ForeignKey(
        Meter, on_delete=models.PROTECT, related_name="plan_allowances"
    )
    amount = models.PositiveBigIntegerField(
        help_text="In the meter's unit, per month for counters."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "meter"], name="plan_allowance_unique_meter"
            )
        ]

    def __str__(self) -> str:
        amount = format_quantity(self.amount, self.meter.unit)
        return f"{self.plan}: {self.meter.name} {amount}"
