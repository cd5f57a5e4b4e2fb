"""Raise alerts once and e-mail them after commit."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial

from django.db import transaction
from django.utils import timezone

from ..models import Account, Alert
from ..selectors import State, any_of, possible_usage_states, quota_statuses
from ..units import format_quantity, period_of


@dataclass(frozen=True, slots=True)
class AlertSpec:
    account_id: int
    kind: str
    period_start: date
    message: str
    meter_id: int | None = None
    reference: str = ""

    @property
    def dedupe_key(self) -> str:
        return (
            f"{self.account_id}:{self.meter_id or '-'}:{self.kind}:"
            f"{self.period_start:%Y-%m}:{self.reference}"
        )


def raise_alerts(*, specs: Sequence[AlertSpec]) -> list[str]:
    """Insert the alerts not raised before; e-mail the new ones after commit.

    Callers hold the account lock, so the existence check cannot go stale;
    the unique ``dedupe_key`` is the backstop. Returns the new keys.
    """
    if not specs:
        return []
    by_key = {spec.dedupe_key: spec for spec in specs}
    existing = set(
        Alert.objects.filter(dedupe_key__in=list(by_key)).values_list(
            "dedupe_key", flat=True
        )
    )
    new = [spec for key, spec in by_key.items() if key not in existing]
    Alert.objects.bulk_create(
        [
            Alert(
                account_id=spec.account_id,
                meter_id=spec.meter_id,
                kind=spec.kind,
                period_start=spec.period_start,
                reference=spec.reference,
                dedupe_key=spec.dedupe_key,
                message=spec.message[:300],
            )
            for spec in new
        ],
        ignore_conflicts=True,
    )
    from ..tasks import send_alert_email

    for spec in new:
        transaction.on_commit(
            partial(send_alert_email.enqueue, dedupe_key=spec.dedupe_key)
        )
    return [spec.dedupe_key for spec in new]


_STATE_ALERTS = {
    State.WARNING: (
        Alert.Kind.WARNING_80,
        "{meter} is at {percent:.0f}% of its limit ({used} of {limit}).",
    ),
    State.EXCEEDED: (
        Alert.Kind.EXCEEDED,
        "{meter} has reached its limit ({used} of {limit}).",
    ),
    State.OVERAGE: (
        Alert.Kind.EXCEEDED,
        "{meter} is past its limit ({used} of {limit});"
        " overage is billed within your cap.",
    ),
    State.BLOCKED: (
        Alert.Kind.BLOCKED,
        "{meter} is blocked: the overage cap is reached.",
    ),
}


def evaluate_usage_alerts(
    *, accounts: Sequence[Account], at: datetime | None = None
) -> list[str]:
    """Raise the alert for each meter's state (80%, exceeded, blocked) once a period.

    Full statuses are computed only for accounts with a meter that may need
    an alert not raised yet: a screen (``possible_usage_states``) drops the
    meters that are surely ok, and those whose every possible alert for this
    period already exists. A batch touching a thousand accounts thus costs a
    few set-based queries, not a thousand accounts' arithmetic.
    """
    at = at or timezone.now()
    period_start = period_of(at).start
    possible = possible_usage_states(accounts=accounts, at=at)
    keys: dict[str, int] = {}
    for (account_id, meter_id), states in possible.items():
        for state in states & _STATE_ALERTS.keys():
            spec = AlertSpec(
                account_id=account_id,
                meter_id=meter_id,
                kind=_STATE_ALERTS[state][0],
                period_start=period_start,
                message="",
            )
            keys[spec.dedupe_key] = account_id
    if not keys:
        return []
    raised = set(
        Alert.objects.filter(dedupe_key__in=any_of(keys, db_type="text")).values_list(
            "dedupe_key", flat=True
        )
    )
    pending = {account_id for key, account_id in keys.items() if key not in raised}
    candidates = [account for account in accounts if account.pk in pending]
    if not candidates:
        return []
    specs = []
    for account_id, statuses in quota_statuses(accounts=candidates, at=at).items():
        for status in statuses:
            if status.state not in _STATE_ALERTS:
                continue
            kind, template = _STATE_ALERTS[status.state]
            unit = status.meter.unit
            message = template.format(
                meter=status.meter.name,
                percent=status.percent,
                used=format_quantity(status.used, unit),
                limit=format_quantity(status.limit, unit),
            )
            specs.append(
                AlertSpec(
                    account_id=account_id,
                    meter_id=status.meter.pk,
                    kind=kind,
                    period_start=status.period.start,
                    message=message,
                )
            )
    return raise_alerts(specs=specs)


def dismiss_alert(*, alert: Alert) -> None:
    Alert.objects.filter(pk=alert.pk, dismissed_at__isnull=True).update(
        dismissed_at=timezone.now()
    )
