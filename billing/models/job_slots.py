"""Job slots: one row per job posting holding (or waiting for) a slot.

Active allocations count against the limit; suspended ones lost their slot
when capacity lapsed and come back oldest first when it returns.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .accounts import Account


class JobSlotQuerySet(models.QuerySet["JobSlot"]):
    def active(self) -> "JobSlotQuerySet":
        return self.filter(status=JobSlot.Status.ACTIVE)

    def held(self) -> "JobSlotQuerySet":
        """Active or suspended: the job_ref is taken."""
        return self.filter(status__in=[JobSlot.Status.ACTIVE, JobSlot.Status.SUSPENDED])


class JobSlot(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        RELEASED = "released", "Released"

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="job_slots"
    )
    job_ref = models.CharField(max_length=128)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    allocated_at = models.DateTimeField(default=timezone.now)
    suspended_at = models.DateTimeField(null=True, blank=True)
    # What took the capacity away, as the customer reads it after "after":
    # "the refund of Slot pack 20", "Slot pack 5 expired".
    # A database default: the hot allocation path inserts rows in raw SQL.
    suspension_cause = models.CharField(max_length=200, blank=True, db_default="")
    released_at = models.DateTimeField(null=True, blank=True)

    objects = JobSlotQuerySet.as_manager()

    class Meta:
        ordering = ["allocated_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "job_ref"],
                condition=Q(status__in=["active", "suspended"]),
                name="job_slot_unique_held_job_ref",
            )
        ]
        indexes = [models.Index(fields=["account", "status"])]

    def __str__(self) -> str:
        return f"{self.job_ref} ({self.status})"
