"""Bundles, sales, licences and the theme each user applies.

A ``Sale`` is the store's purchase: its unique idempotency key makes a
double submit one sale and one charge, as for packs. A completed sale of a
theme is unique per (account, theme) in the database, the backstop for
"buying twice is refused". Licences are perpetual for theme sales and may
expire for bundles; an expired or revoked licence never counts.
"""

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from billing.models import Account, ChargeRecord

from .themes import Theme


class Bundle(models.Model):
    class State(models.TextChoices):
        UPCOMING = "upcoming", "Upcoming"
        LIVE = "live", "On sale"
        ENDED = "ended", "Ended"

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    price_cents = models.PositiveIntegerField()
    themes = models.ManyToManyField(Theme, related_name="bundles")
    available_from = models.DateTimeField()
    available_until = models.DateTimeField(help_text="Exclusive: the sale ends here.")
    licence_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: licences never expire."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-available_from", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(available_until__gt=F("available_from")),
                name="bundle_window_order",
            ),
            models.CheckConstraint(
                condition=Q(licence_days__isnull=True) | Q(licence_days__gt=0),
                name="bundle_licence_days_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def state_at(self, moment: datetime) -> str:
        """On sale in [available_from, available_until)."""
        if moment < self.available_from:
            return self.State.UPCOMING
        if moment >= self.available_until:
            return self.State.ENDED
        return self.State.LIVE


class Sale(models.Model):
    class Kind(models.TextChoices):
        THEME = "theme", "Theme"
        BUNDLE = "bundle", "Bundle"

    class Status(models.TextChoices):
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Payment declined"
        REFUNDED = "refunded", "Refunded"

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="theme_sales"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    theme = models.ForeignKey(
        Theme, null=True, blank=True, on_delete=models.PROTECT, related_name="sales"
    )
    bundle = models.ForeignKey(
        Bundle, null=True, blank=True, on_delete=models.PROTECT, related_name="sales"
    )
    status = models.CharField(max_length=10, choices=Status.choices)
    idempotency_key = models.CharField(max_length=100, unique=True)
    price_cents = models.PositiveIntegerField()
    charge = models.OneToOneField(
        ChargeRecord,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="theme_sale",
    )
    bought_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["account", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="theme", theme__isnull=False, bundle__isnull=True)
                | Q(kind="bundle", bundle__isnull=False, theme__isnull=True),
                name="sale_names_what_was_sold",
            ),
            models.UniqueConstraint(
                fields=["account", "theme"],
                condition=Q(status="completed", kind="theme"),
                name="sale_theme_once_per_account",
            ),
            models.UniqueConstraint(
                fields=["account", "bundle"],
                condition=Q(status="completed", kind="bundle"),
                name="sale_bundle_once_per_account",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.theme or self.bundle} for {self.account} ({self.status})"

    @property
    def item(self) -> Theme | Bundle | None:
        return self.theme if self.kind == self.Kind.THEME else self.bundle


class LicenceQuerySet(models.QuerySet["Licence"]):
    def active_at(self, moment: datetime) -> "LicenceQuerySet":
        """Licences that count at ``moment``: started, not expired, not revoked."""
        return self.filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=moment),
            starts_at__lte=moment,
            revoked_at__isnull=True,
        )


class Licence(models.Model):
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="theme_licences"
    )
    theme = models.ForeignKey(Theme, on_delete=models.PROTECT, related_name="licences")
    sale = models.ForeignKey(Sale, on_delete=models.PROTECT, related_name="licences")
    starts_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: perpetual."
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = LicenceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["account", "theme"])]
        constraints = [
            models.UniqueConstraint(
                fields=["sale", "theme"], name="licence_one_per_theme_per_sale"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=F("starts_at")),
                name="licence_term_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.theme} for {self.account}"

    def is_active_at(self, moment: datetime) -> bool:
        return (
            self.revoked_at is None
            and self.starts_at <= moment
            and (self.expires_at is None or moment < self.expires_at)
        )


class AppliedTheme(models.Model):
    """The theme a user chose; it shows only while a licence for it is live."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="applied_theme"
    )
    theme = models.ForeignKey(Theme, on_delete=models.CASCADE, related_name="+")
    applied_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.theme} for {self.user}"
