"""Give and revoke overage consent: the recorded yes that overage needs.

A consent covers usage from the instant it is given until it is revoked (or
its period ends): excess used outside that window is never billed.
"""

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User

from ..errors import ConfirmationRequired, InvalidRequest, PermissionDenied
from ..models import Account, Meter, OverageConsent
from ..quotas.current import newly_billable_cents
from ..selectors import can_manage_account
from ..units import format_cents, period_of
from .alerts import evaluate_usage_alerts
from .counters import refold_counters_from
from .locks import lock_account

# What the dashboard offers as a cap: a positive amount up to $100,000, so a
# slip of the finger cannot consent to an unbounded bill. The service itself
# takes any positive cap (the platform and staff may set larger ones).
MIN_CAP_CENTS = 1
MAX_CAP_CENTS = 10_000_000


def give_overage_consent(
    *,
    account: Account,
    meter: Meter,
    cap_cents: int,
    recurring: bool,
    actor: User,
    at: datetime | None = None,
    acknowledged_cents: int | None = None,
) -> OverageConsent:
    """Consent to overage on one meter up to ``cap_cents``, this period or every one.

    Replaces any live consent for the meter at the same instant, so a new cap
    continues the old consent without a gap. A higher cap can make consented
    excess already used billable at once: with ``acknowledged_cents`` (what
    the user was shown), a change that would bill more than that raises
    ``ConfirmationRequired`` with the amount, decided under the account lock.
    """
    if not can_manage_account(user=actor, account=account):
        raise PermissionDenied(
            "Only the account's owners and admins can consent to overage."
        )
    if meter.is_hard_limit:
        raise InvalidRequest(f"{meter.name} is a hard limit: overage is not sold.")
    if isinstance(cap_cents, bool) or not isinstance(cap_cents, int) or cap_cents <= 0:
        raise InvalidRequest("The spending cap must be a positive amount.")
    at = at or timezone.now()
    with transaction.atomic():
        account = lock_account(account)
        if acknowledged_cents is not None:
            newly = newly_billable_cents(
                account=account, meter=meter, cap_cents=cap_cents, at=at
            )
            if newly > acknowledged_cents:
                currency = settings.BILLING_CURRENCY
                raise ConfirmationRequired(
                    f"A cap of {format_cents(cap_cents, currency)} makes "
                    f"{format_cents(newly, currency)} of overage already used"
                    " billable.",
                    details={"newly_billable_cents": newly},
                )
        OverageConsent.objects.filter(
            account=account, meter=meter, revoked_at__isnull=True
        ).update(revoked_at=at)
        consent = OverageConsent.objects.create(
            account=account,
            meter=meter,
            cap_cents=cap_cents,
            period_start=period_of(at).start,
            recurring=recurring,
            given_by=actor if getattr(actor, "pk", None) else None,
            given_at=at,
        )
        _refresh(account=account, meter=meter, at=at)
    return consent


def revoke_overage_consent(
    *, account: Account, meter: Meter, actor: User, at: datetime | None = None
) -> bool:
    """Stop overage from now on; what was used while it was live stays billable."""
    if not can_manage_account(user=actor, account=account):
        raise PermissionDenied(
            "Only the account's owners and admins can change consent."
        )
    at = at or timezone.now()
    with transaction.atomic():
        account = lock_account(account)
        revoked = OverageConsent.objects.filter(
            account=account, meter=meter, revoked_at__isnull=True
        ).update(revoked_at=at)
        if revoked:
            _refresh(account=account, meter=meter, at=at)
    return bool(revoked)


def _refresh(*, account: Account, meter: Meter, at: datetime) -> None:
    """Usage already recorded past ``at`` (a platform clock slightly ahead)
    changes side; states follow the new consent."""
    if meter.kind == Meter.Kind.COUNTER:
        refold_counters_from(account=account, meter=meter, period=period_of(at), at=at)
    evaluate_usage_alerts(accounts=[account], at=at)
