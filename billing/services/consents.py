"""Give and revoke overage consent: the recorded yes that overage needs."""

from django.db import transaction
from django.utils import timezone

from ..errors import InvalidRequest, PermissionDenied
from ..models import Account, Meter, OverageConsent
from ..selectors import can_manage_account
from ..units import period_of
from .alerts import evaluate_usage_alerts
from .locks import lock_account


def give_overage_consent(
    *, account: Account, meter: Meter, cap_cents: int, recurring: bool, user: object
) -> OverageConsent:
    """Consent to overage on one meter up to ``cap_cents``, this period or every one.

    Replaces any live consent for the meter: the newest cap is the one that holds.
    """
    if not can_manage_account(user=user, account=account):
        raise PermissionDenied(
            "Only the account's owners and admins can consent to overage."
        )
    if meter.is_hard_limit:
        raise InvalidRequest(f"{meter.name} is a hard limit: overage is not sold.")
    if isinstance(cap_cents, bool) or not isinstance(cap_cents, int) or cap_cents <= 0:
        raise InvalidRequest("The spending cap must be a positive amount.")
    now = timezone.now()
    with transaction.atomic():
        account = lock_account(account)
        OverageConsent.objects.filter(
            account=account, meter=meter, revoked_at__isnull=True
        ).update(revoked_at=now)
        consent = OverageConsent.objects.create(
            account=account,
            meter=meter,
            cap_cents=cap_cents,
            period_start=period_of(now).start,
            recurring=recurring,
            given_by=user if getattr(user, "pk", None) else None,
            given_at=now,
        )
        evaluate_usage_alerts(accounts=[account], at=now)
    return consent


def revoke_overage_consent(*, account: Account, meter: Meter, user: object) -> bool:
    """Stop future overage. Overage already used under the consent is still billed."""
    if not can_manage_account(user=user, account=account):
        raise PermissionDenied(
            "Only the account's owners and admins can change consent."
        )
    with transaction.atomic():
        lock_account(account)
        revoked = OverageConsent.objects.filter(
            account=account, meter=meter, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
    return bool(revoked)
