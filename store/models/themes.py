"""Themes and their preview images.

A theme moves: changes_needed (a check failed) <-> in_review -> approved
(listed) or rejected. Only content that passed every check reaches review.
``published_stylesheet`` is what buyers get: frozen at approval, so an edit
that sends a listed theme back to review never serves unreviewed CSS to the
people who already licensed it.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ThemeQuerySet(models.QuerySet["Theme"]):
    def listed(self) -> "ThemeQuerySet":
        return self.filter(status=Theme.Status.APPROVED)


class Theme(models.Model):
    class Status(models.TextChoices):
        CHANGES_NEEDED = "changes_needed", "Checks failed"
        IN_REVIEW = "in_review", "In review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="themes"
    )
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True)
    price_cents = models.PositiveIntegerField(default=0, help_text="0: free.")
    css = models.TextField(blank=True, help_text="The submitted stylesheet.")
    tokens = models.JSONField(
        default=dict, help_text="bg, surface, text, muted, accent, focus (#rrggbb)."
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.CHANGES_NEEDED
    )
    check_report = models.JSONField(default=list, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField(
        max_length=500,
        blank=True,
        help_text="Why it was rejected; shown to the creator.",
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    published_stylesheet = models.TextField(blank=True, editable=False)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ThemeQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        permissions = [("review_theme", "Can approve and reject themes")]
        indexes = [
            models.Index(fields=["status", "name"]),
            models.Index(fields=["creator", "-updated_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(published_at__isnull=False),
                name="theme_approved_is_published",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_listed(self) -> bool:
        return self.status == self.Status.APPROVED

    @property
    def is_free(self) -> bool:
        return self.price_cents == 0

    @property
    def checks_passed(self) -> bool:
        return bool(self.check_report) and all(c["passed"] for c in self.check_report)


class ThemeImage(models.Model):
    """A preview image, kept in the database so every web host can serve it."""

    theme = models.ForeignKey(Theme, on_delete=models.CASCADE, related_name="images")
    content_type = models.CharField(max_length=32)
    data = models.BinaryField()
    size_bytes = models.PositiveIntegerField()
    alt = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.theme} preview {self.pk}"
