"""The pack catalogue, purchases and the grants they create.

A purchase of a pack creates one grant per meter the pack covers. Grants are
capacity: for gauges they raise the limit while active; for counters they are
top-up balances burned after the plan's monthly allowance (``consumed``).
A grant counts from ``effective_at`` until its expiry or revocation (a refund
revokes at its instant), whether or not a sweep ran.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from ..units import format_quantity
from .accounts import Account
from .meters import Meter


class Pack(models.Model):
    class Kind(models.TextChoices):
        ONE_TIME = "one_time", "One-time"
        SUBSCRIPTION = "subscription", "Subscription"

    class Category(models.TextChoices):
        CAPACITY = "capacity", "Capacity pack"
        SLOTS = "slots", "Job-slot pack"

    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    category = models.CharField(
        max_length=10, choices=Category.choices, default=Category.CAPACITY
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.ONE_TIME)
    price_cents = models.PositiveIntegerField()
    term_days = models.PositiveIntegerField(
        default=365,
        help_text="How long the grants last. Capacity packs 365, slot packs 30.",
    )
    is_active = models.BooleanField(default=True, help_text="Listed in the catalogue.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["category", "price_cents", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(term_days__gt=0), name="pack_term_positive"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_subscription(self) -> bool:
        return self.kind == self.Kind.SUBSCRIPTION

    def expiry_from(self, starts_at: datetime) -> datetime:
        return starts_at + timedelta(days=self.term_days)


class PackAllowance(models.Model):
    pack = models.ForeignKey(Pack, on_delete=models.CASCADE, related_name="allowances")
    meter = models.ForeignKey(
        Meter, on_delete=models.PROTECT, related_name="pack_allowances"
    )
    amount = models.PositiveBigIntegerField(help_text="In the meter's unit.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pack", "meter"], name="pack_allowance_unique_meter"
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="pack_allowance_positive"
            ),
        ]

    def __str__(self) -> str:
        amount = format_quantity(self.amount, self.meter.unit)
        return f"{self.pack.code}: {self.meter.name} +{amount}"


class Purchase(models.Model):
    class Kind(models.TextChoices):
        PURCHASE = "purchase", "Purchase"
        RENEWAL = "renewal", "Renewal"

    class Status(models.TextChoices):
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Payment declined"
        REFUNDED = "refunded", "Refunded"

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="purchases"
    )
    pack = models.ForeignKey(Pack, on_delete=models.PROTECT, related_name="purchases")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PURCHASE)
    status = models.CharField(max_length=10, choices=Status.choices)
    idempotency_key = models.CharField(max_length=100, unique=True)
    price_cents = models.PositiveIntegerField()
    starts_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    renewal_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="renewals"
    )
    bought_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["account", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("starts_at")), name="purchase_term_order"
            )
        ]

    def __str__(self) -> str:
        return f"{self.pack} for {self.account} ({self.status})"

    def is_active_at(self, moment: datetime) -> bool:
        return (
            self.status == self.Status.COMPLETED
            and self.starts_at <= moment < self.expires_at
        )


class GrantState(models.TextChoices):
    """Where a grant stands at an instant (``Grant.state_at``)."""

    ACTIVE = "active", "Active"
    SCHEDULED = "scheduled", "Not started yet"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class GrantQuerySet(models.QuerySet["Grant"]):
    def in_state(self, state: str, at: datetime) -> "GrantQuerySet":
        """The grants in ``state`` at ``at``; an unknown state filters nothing."""
        if state == GrantState.ACTIVE:
            return self.active_at(at)
        if state == GrantState.SCHEDULED:
            return self.filter(effective_at__gt=at, revoked_at__isnull=True)
        if state == GrantState.EXPIRED:
            return self.filter(expires_at__lte=at, revoked_at__isnull=True)
        if state == GrantState.REVOKED:
            return self.filter(revoked_at__isnull=False)
        return self

    def active_at(self, moment: datetime) -> "GrantQuerySet":
        """Grants that count at ``moment``: started, not expired, not yet revoked.

        A refund or revocation ends a grant at its own instant: before it the
        grant counted, so history read at an earlier moment keeps it.
        """
        return self.filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=moment),
            Q(revoked_at__isnull=True) | Q(revoked_at__gt=moment),
            effective_at__lte=moment,
        )

    def unfolded_terms(self, *, since: datetime, at: datetime) -> "GrantQuerySet":
        """Terms bought to start later that started in ``[since, at]`` and whose
        start no write has folded into the counter caches yet."""
        return self.filter(
            effective_at__gt=F("created_at"),
            effective_at__gte=since,
            effective_at__lte=at,
            start_folded_at__isnull=True,
        )

    def live_during(self, starts_at: datetime, ends_at: datetime) -> "GrantQuerySet":
        """Grants that counted at some instant of ``[starts_at, ends_at)``."""
        return self.filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=starts_at),
            Q(revoked_at__isnull=True) | Q(revoked_at__gt=starts_at),
            effective_at__lt=ends_at,
        )


class Grant(models.Model):
    class Source(models.TextChoices):
        PURCHASE = "purchase", "Purchase"
        ADJUSTMENT = "adjustment", "Staff adjustment"

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="grants"
    )
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="grants")
    amount = models.PositiveBigIntegerField()
    # Counters only: how much of this top-up usage has burned so far.
    consumed = models.PositiveBigIntegerField(default=0)
    effective_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(
        max_length=12, choices=Source.choices, default=Source.PURCHASE
    )
    purchase = models.ForeignKey(
        Purchase, null=True, blank=True, on_delete=models.PROTECT, related_name="grants"
    )
    reason = models.CharField(max_length=200, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Set by the expiry sweep once it has raised the "expired" alert and
    # suspended slots; counting never depends on it.
    expiry_processed_at = models.DateTimeField(null=True, blank=True)
    # A term bought to start later (a renewal): set once its start has been
    # folded into the counter caches. Until then readers fold its period
    # from the events themselves.
    start_folded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = GrantQuerySet.as_manager()

    class Meta:
        ordering = ["expires_at", "pk"]
        permissions = [("adjust_grant", "Can add adjustment grants and revoke grants")]
        indexes = [models.Index(fields=["account", "meter", "expires_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="grant_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(consumed__lte=F("amount")),
                name="grant_consumed_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True)
                | Q(expires_at__gt=F("effective_at")),
                name="grant_term_order",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.meter.name} +{format_quantity(self.amount, self.meter.unit)}"
            f" for {self.account}"
        )

    @property
    def balance(self) -> int:
        return self.amount - self.consumed

    def state_at(self, at: datetime) -> GrantState:
        """Revoked, expired, not started yet or active at ``at``."""
        if self.revoked_at is not None:
            return GrantState.REVOKED
        if self.expires_at is not None and self.expires_at <= at:
            return GrantState.EXPIRED
        if self.effective_at > at:
            return GrantState.SCHEDULED
        return GrantState.ACTIVE

    @property
    def label(self) -> str:
        """What the customer knows it as: its pack's name, or the staff reason."""
        if self.purchase is not None:
            return self.purchase.pack.name
        return self.reason or "a staff grant"

    @property
    def ends_at(self) -> datetime | None:
        """When the grant stops counting: expiry or revocation, the earlier."""
        ends = [m for m in (self.expires_at, self.revoked_at) if m is not None]
        return min(ends) if ends else None

    def is_live_at(self, moment: datetime) -> bool:
        ends_at = self.ends_at
        return self.effective_at <= moment and (ends_at is None or moment < ends_at)


class GrantBurn(models.Model):
    """Units of a counter top-up burned by one period's usage (a cache).

    The fold over a period's events (``billing.quotas``) writes these; a
    grant's balance entering a period is its amount less the burns of the
    periods before it. ``Grant.consumed`` is their sum.
    """

    account = models.ForeignKey(Account, on_delete=models.PROTECT)
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="burns")
    period_start = models.DateField()
    units = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grant", "period_start"], name="grant_burn_unique_period"
            ),
            models.CheckConstraint(
                condition=Q(units__gt=0), name="grant_burn_positive"
            ),
        ]
        indexes = [models.Index(fields=["account", "period_start"])]

    def __str__(self) -> str:
        return f"{self.grant_id} {self.period_start:%Y-%m}: {self.units}"
