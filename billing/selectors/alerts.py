"""Alerts shown to an account."""

from collections.abc import Sequence
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from ..errors import NotFound
from ..models import (
    Account,
    Alert,
)
from ..quotas.rules import (
    State,
)
from ..units import period_of
from .quotas import QuotaStatus


def list_open_alerts(
    *, account: Account, at: datetime | None = None
) -> QuerySet[Alert]:
    """Undismissed alerts of this period or later (expiry reminders look ahead)."""
    period = period_of(at or timezone.now())
    return account.alerts.filter(
        dismissed_at__isnull=True, period_start__gte=period.start
    ).order_by("-created_at")


# A state alert is news only while its meter is still in that state: an
# "exceeded" banner under a card that says ok (a pack was bought since) misleads.
_ALERT_STATES: dict[str, str] = {
    Alert.Kind.WARNING_80: State.WARNING,
    Alert.Kind.EXCEEDED: State.EXCEEDED,
    Alert.Kind.BLOCKED: State.BLOCKED,
}


def current_alerts(
    *, account: Account, statuses: Sequence[QuotaStatus], at: datetime | None = None
) -> list[Alert]:
    """Open alerts still true now: state alerts whose meter is still in that
    state, and every reminder (expiring, expired, suspended) until dismissed."""
    state_of = {status.meter.pk: status.state for status in statuses}
    return [
        alert
        for alert in list_open_alerts(account=account, at=at)
        if alert.kind not in _ALERT_STATES
        or alert.meter_id is None
        or state_of.get(alert.meter_id) == _ALERT_STATES[alert.kind]
    ]


def get_alert_for_account(*, account: Account, alert_id: int) -> Alert:
    try:
        return account.alerts.get(pk=alert_id)
    except Alert.DoesNotExist:
        raise NotFound("No such alert on this account.") from None
