"""May this usage go ahead? The answer of ``authorize``, from the quota state."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from ..models import Account, Meter
from ..quotas.rules import (
    State,
    counter_overage_cents,
    storage_overage_cents,
)
from ..quotas.status import QuotaStatus, status_from_facts
from .quotas import quota_status


@dataclass(frozen=True, slots=True)
class Authorization:
    allowed: bool
    reason: (
        str | None
    )  # None | quota_exceeded | overage_confirmation_required | blocked
    state: str
    remaining: int


def authorize_usage(
    *, account: Account, meter: Meter, quantity: int, at: datetime | None = None
) -> Authorization:
    """May the platform use ``quantity`` more? A read: records nothing.

    The API takes the one-statement path (``billing.quotas.hot``); both end
    in ``_authorization``.
    """
    at = at or timezone.now()
    status = quota_status(account=account, meter=meter, at=at)
    return decide_authorization(
        account=account, status=status, quantity=quantity, at=at
    )


def authorize_from_facts(*, quantity: int, at: datetime, **facts: Any) -> Authorization:
    """``authorize_usage`` from facts already loaded (``billing.quotas.hot``);
    ``facts`` are ``status_from_facts``'s."""
    status = status_from_facts(at=at, **facts)
    return decide_authorization(
        account=facts["account"], status=status, quantity=quantity, at=at
    )


def decide_authorization(
    *, account: Account, status: QuotaStatus, quantity: int, at: datetime
) -> Authorization:
    """Within the limit: allowed. Past it: hard limits refuse, priced meters
    need a consent, and a consent allows only while the projected overage
    cost including this request stays within its cap."""
    meter = status.meter
    if account.hard_blocked:
        return Authorization(False, "blocked", State.BLOCKED, status.remaining)
    if status.used + quantity <= status.limit:
        return Authorization(True, None, status.state, status.remaining - quantity)
    if meter.is_hard_limit:
        return Authorization(False, "quota_exceeded", State.EXCEEDED, status.remaining)
    if status.consent is None:
        return Authorization(
            False, "overage_confirmation_required", State.EXCEEDED, status.remaining
        )
    # Only this request's own excess is new: usage past the limit from
    # before the consent stays unbilled and does not count against the cap.
    if meter.kind == Meter.Kind.GAUGE:
        new_excess = status.used + quantity - status.limit
        days_left = Decimal((status.period.end - at.date()).days)
        cost = storage_overage_cents(
            meter, status.consented_excess + new_excess * days_left, status.period
        )
    else:
        added = min(quantity, status.used + quantity - status.limit)
        cost = counter_overage_cents(meter, int(status.consented_excess) + added)
    if cost > status.consent.cap_cents or status.state == State.BLOCKED:
        return Authorization(False, "blocked", State.BLOCKED, status.remaining)
    return Authorization(True, None, State.OVERAGE, status.remaining)
