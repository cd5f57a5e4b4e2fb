"""Expiry sweep: reminders before packs lapse, alerts and slot suspension after.

Counting never waits for this sweep (expired grants are filtered by time
everywhere); the sweep only tells people and suspends slots, and raises the
alerts of levels that carry into a new period (storage, job slots). Idempotent:
alerts are deduplicated and each expired grant is processed once.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ..models import Account, Alert, EventType, Grant, Meter, Purchase
from ..selectors import REMINDERS, reminder_reference
from ..units import period_of
from .alerts import AlertSpec, raise_alerts, raise_carried_over_alerts
from .counters import refold_counters_from
from .job_slots import reconcile_job_slots
from .locks import lock_account
from .webhook_events import EventSpec, purchase_event, record_events


@dataclass(frozen=True, slots=True)
class Sweep:
    reminders: int
    expired_grants: int
    suspended_slots: int


def sweep_expirations(*, at: datetime | None = None) -> Sweep:
    at = at or timezone.now()
    reminders = _send_reminders(now=at)
    _fold_started_terms(now=at)
    raise_carried_over_alerts(at=at)
    expired = list(
        Grant.objects.filter(
            expires_at__lte=at,
            expiry_processed_at__isnull=True,
            revoked_at__isnull=True,
        )
        .select_related("meter", "purchase__pack")
        .prefetch_related("purchase__pack__allowances__meter")
    )
    by_account: dict[int, list[Grant]] = defaultdict(list)
    for grant in expired:
        by_account[grant.account_id].append(grant)
    suspended = 0
    for account_id, grants in sorted(by_account.items()):
        with transaction.atomic():
            account = lock_account(Account(pk=account_id))
            specs = []
            for grant in grants:
                if grant.expires_at is None:
                    continue  # the sweep selects grants by their expiry
                label = grant.label
                specs.append(
                    AlertSpec(
                        account_id=account_id,
                        meter_id=grant.meter_id,
                        kind=Alert.Kind.EXPIRED,
                        period_start=period_of(grant.expires_at).start,
                        reference=f"grant:{grant.pk}",
                        message=f"{label} expired on {grant.expires_at:%Y-%m-%d}; "
                        f"its {grant.meter.name.lower()} capacity no longer counts.",
                    )
                )
            raise_alerts(specs=specs)
            record_events(specs=_expired_purchases(grants))
            slot_grants = [g for g in grants if g.meter.kind == Meter.Kind.ALLOCATION]
            if slot_grants:
                ended = " and ".join(sorted({g.label for g in slot_grants}))
                suspended += len(
                    reconcile_job_slots(
                        account=account, at=at, cause=f"{ended} expired"
                    ).suspended
                )
            Grant.objects.filter(pk__in=[g.pk for g in grants]).update(
                expiry_processed_at=at
            )
    return Sweep(
        reminders=reminders, expired_grants=len(expired), suspended_slots=suspended
    )


def _expired_purchases(grants: list[Grant]) -> list[EventSpec]:
    """One ``purchase.expired`` per purchase whose grants ended by expiry
    (staff adjustments have no purchase: their alert says it)."""
    purchases = {g.purchase.pk: g.purchase for g in grants if g.purchase is not None}
    renewed = dict(
        Purchase.objects.filter(
            renewal_of__in=purchases, status=Purchase.Status.COMPLETED
        ).values_list("renewal_of_id", "pk")
    )
    specs = []
    for purchase_id, purchase in sorted(purchases.items()):
        spec = purchase_event(
            type=EventType.PURCHASE_EXPIRED,
            purchase=purchase,
            at=purchase.expires_at,
            dedupe_key=f"purchase.expired:{purchase_id}",
        )
        # A renewed term ends with its successor already running.
        spec.data["purchase"]["renewed_by"] = renewed.get(purchase_id)
        specs.append(spec)
    return specs


def _fold_started_terms(*, now: datetime) -> None:
    """A renewed top-up term starts at the old expiry, with no write to fold
    it in: from that instant it covers its period's uncovered excess. Reads
    count it anyway; this brings the counter caches level (idempotent)."""
    started = (
        Grant.objects.unfolded_terms(since=period_of(now).previous().starts_at, at=now)
        .filter(meter__kind=Meter.Kind.COUNTER)
        .values_list("account_id", "meter_id", "effective_at")
        .order_by("account_id", "meter_id")
    )
    meters = {m.pk: m for m in Meter.objects.filter(kind=Meter.Kind.COUNTER)}
    for account_id, meter_id, effective_at in started:
        with transaction.atomic():
            account = lock_account(Account(pk=account_id))
            refold_counters_from(
                account=account,
                meter=meters[meter_id],
                period=period_of(effective_at),
                at=now,
            )


def _send_reminders(*, now: datetime) -> int:
    """Remind 7 days and 1 day before a pack expires, unless it was renewed."""
    upcoming = (
        Purchase.objects.filter(
            status=Purchase.Status.COMPLETED,
            expires_at__gt=now,
            expires_at__lte=now + REMINDERS[-1][0],
        )
        .exclude(renewals__status=Purchase.Status.COMPLETED)
        .select_related("pack")
        .prefetch_related("pack__allowances__meter")
    )
    specs, events = [], []
    for purchase in upcoming:
        left = purchase.expires_at - now
        window = next(label for span, label in REMINDERS if left <= span)
        reference = reminder_reference(purchase_id=purchase.pk, window=window)
        events.append(
            purchase_event(
                type=EventType.PURCHASE_EXPIRING,
                purchase=purchase,
                at=now,
                dedupe_key=f"purchase.expiring:{reference}",
            )
        )
        action = "Renew it" if purchase.pack.is_subscription else "Buy it again"
        specs.append(
            AlertSpec(
                account_id=purchase.account_id,
                kind=Alert.Kind.EXPIRING_SOON,
                period_start=period_of(purchase.expires_at).start,
                reference=reference,
                message=f"{purchase.pack.name} expires on "
                f"{purchase.expires_at:%Y-%m-%d %H:%M} UTC. "
                f"{action} to keep its capacity.",
            )
        )
    with transaction.atomic():
        record_events(specs=events)
        return len(raise_alerts(specs=specs))
