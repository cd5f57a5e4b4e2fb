"""Outbound webhooks: endpoints, the event outbox, deliveries and attempts.

An event is written in the transaction of the change that causes it (the
outbox), with one delivery per endpoint that wants its type. The worker
claims a delivery for one attempt with a lease (a conditional UPDATE), so an
attempt whose worker died is claimed again once the lease expires; the task
queue's own retries are not relied on. ``QuotaNotice`` remembers which
meters were last seen over their limit, so a return under it is told once.
"""

import secrets
from base64 import b64encode
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from .accounts import Account
from .meters import Meter

SECRET_PREFIX = "whsec_"


def new_signing_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + b64encode(secrets.token_bytes(32)).decode()


class EventType(models.TextChoices):
    QUOTA_WARNING = "quota.warning", "quota.warning: 80% of a limit used"
    QUOTA_EXCEEDED = "quota.exceeded", "quota.exceeded: a limit reached"
    QUOTA_OVERAGE_STARTED = (
        "quota.overage_started",
        "quota.overage_started: usage billed as overage",
    )
    QUOTA_BLOCKED = "quota.blocked", "quota.blocked: the account is blocked"
    QUOTA_RESOLVED = "quota.resolved", "quota.resolved: back under the limit"
    JOB_SLOT_SUSPENDED = (
        "job_slot.suspended",
        "job_slot.suspended: postings lost their slots",
    )
    JOB_SLOT_REACTIVATED = (
        "job_slot.reactivated",
        "job_slot.reactivated: suspended postings got slots back",
    )
    PURCHASE_COMPLETED = (
        "purchase.completed",
        "purchase.completed: a pack bought or renewed",
    )
    PURCHASE_EXPIRING = (
        "purchase.expiring",
        "purchase.expiring: a pack ends within 7 days or 1 day",
    )
    PURCHASE_EXPIRED = "purchase.expired", "purchase.expired: a pack's term ended"
    CHARGE_REFUNDED = "charge.refunded", "charge.refunded: a charge refunded or voided"
    PERIOD_CLOSED = "period.closed", "period.closed: a month closed and billed"


class WebhookEndpoint(models.Model):
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(
        default=list, help_text="The event types sent to this endpoint."
    )
    is_active = models.BooleanField(
        default=True, help_text="Staff switch: an inactive endpoint gets nothing."
    )
    # Standard Webhooks signs with the secret itself, so it is kept (never
    # shown again after creation or rotation).
    secret = models.CharField(max_length=80, editable=False)
    previous_secret = models.CharField(max_length=80, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(
        null=True, blank=True, editable=False
    )
    disabled_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Set when every attempt failed for the whole retry window.",
    )
    disabled_reason = models.CharField(max_length=300, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        editable=False,
        related_name="+",
    )

    class Meta:
        ordering = ["url", "pk"]

    def __str__(self) -> str:
        return self.description or self.url

    def signing_secrets(self, *, at: datetime) -> list[str]:
        """The secrets that sign a message sent at ``at``: after a rotation
        the old one signs too until it expires, so receivers can switch."""
        keys = [self.secret]
        expires = self.previous_secret_expires_at
        if self.previous_secret and expires is not None and at < expires:
            keys.append(self.previous_secret)
        return keys


class WebhookEvent(models.Model):
    """One change the platform is told about; rows are never edited."""

    event_id = models.CharField(max_length=40, unique=True)
    type = models.CharField(max_length=32, choices=EventType.choices)
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    occurred_at = models.DateTimeField(help_text="When the change happened.")
    data = models.JSONField()
    # Events sent once per (account, meter, period) or per purchase carry a
    # key; a second writer's insert of the same key does nothing.
    dedupe_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["type", "created_at"])]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (retries used up)"
        HELD = "held", "Held (endpoint disabled)"

    event = models.ForeignKey(
        WebhookEvent, on_delete=models.PROTECT, related_name="deliveries"
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempt_count = models.PositiveIntegerField(default=0)
    # Attempts made before the last resend: the retry schedule restarts.
    attempts_before_resend = models.PositiveIntegerField(default=0)
    # Due for an attempt from then; while an attempt runs, its lease end.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Start of the current retry window (creation, or the last resend).
    window_started_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "endpoint"], name="one_delivery_per_event_endpoint"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["endpoint", "status"]),
        ]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"Delivery {self.pk} ({self.event.type})"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempts"
    )
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="one_attempt_per_number"
            )
        ]

    def __str__(self) -> str:
        return f"Attempt {self.number} of {self.delivery}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class QuotaNotice(models.Model):
    """Whether the platform was last told a meter is over its limit."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="+")
    over_limit = models.BooleanField(default=False)
    state = models.CharField(max_length=10)
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "meter"], name="one_quota_notice_per_meter"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id}/{self.meter_id}: {self.state}"
