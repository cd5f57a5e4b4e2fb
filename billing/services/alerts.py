"""Raise alerts once and e-mail them after commit."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..models import Account, Alert, GaugeLevel, JobSlot, PlanAllowance
from ..quotas.hot import quota_status_by_pk
from ..selectors import QuotaStatus, State, quota_statuses
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

    One ``INSERT ... ON CONFLICT DO NOTHING RETURNING``: of several writers
    raising the same alert at once, exactly one gets its key back, so each
    alert is stored and e-mailed once without any lock. Returns the new keys.
    """
    by_key = {spec.dedupe_key: spec for spec in specs}
    if not by_key:
        return []
    now = timezone.now()
    table = Alert._meta.db_table
    rows = []
    params: list[Any] = []
    for key, spec in sorted(by_key.items()):
        rows.append("(%s, %s, %s, %s, %s, %s, %s, %s)")
        params += [
            spec.account_id,
            spec.meter_id,
            spec.kind,
            connection.ops.adapt_datefield_value(spec.period_start),
            spec.reference,
            key,
            spec.message[:300],
            connection.ops.adapt_datetimefield_value(now),
        ]
    from ..tasks import enqueue_with_write, send_alert_email

    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Durable before it returns, even where the session commits
            # asynchronously (the task worker): the alerts and their e-mail
            # tasks are what the worker's task exists for.
            cursor.execute("SET LOCAL synchronous_commit = on")
        cursor.execute(
            f"INSERT INTO {table} (account_id, meter_id, kind, period_start,"
            " reference, dedupe_key, message, created_at)"
            f" VALUES {', '.join(rows)}"
            " ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key",
            params,
        )
        new = [row[0] for row in cursor.fetchall()]
        unreachable = set(
            Account.objects.filter(
                pk__in={by_key[key].account_id for key in new},
                user__isnull=True,
                company__isnull=True,
                email="",
            ).values_list("pk", flat=True)
        )
        for key in sorted(new):
            # An account the platform created without an e-mail has nobody
            # to write to (``account_email``): no task to queue.
            if by_key[key].account_id not in unreachable:
                enqueue_with_write(send_alert_email, dedupe_key=key)
    return new


_STATE_ALERTS = {
    State.WARNING: (
        Alert.Kind.WARNING_80,
        "{meter}: {percent:.0f}% of the limit used ({used} of {limit}).",
    ),
    State.EXCEEDED: (
        Alert.Kind.EXCEEDED,
        "{meter}: limit reached ({used} of {limit}).",
    ),
    State.OVERAGE: (
        Alert.Kind.EXCEEDED,
        "{meter}: past the limit ({used} of {limit});"
        " overage is billed within your cap.",
    ),
    State.BLOCKED: (
        Alert.Kind.BLOCKED,
        "{meter}: blocked, the overage cap is reached.",
    ),
}


def usage_alert_specs(
    *, accounts: Sequence[Account], at: datetime, meter_ids: Iterable[int] = ()
) -> list[AlertSpec]:
    """The alerts the meters' states call for at ``at`` (80%, exceeded,
    blocked), whether or not they were raised before; writes nothing."""
    return [
        spec
        for account_id, status in _statuses(
            accounts=accounts, at=at, meter_ids=meter_ids
        )
        if (spec := _state_alert(account_id, status)) is not None
    ]


def _statuses(
    *, accounts: Sequence[Account], at: datetime, meter_ids: Iterable[int] = ()
) -> list[tuple[int, QuotaStatus]]:
    wanted = set(meter_ids)
    return [
        (account_id, status)
        for account_id, statuses in quota_statuses(accounts=accounts, at=at).items()
        for status in statuses
        if not wanted or status.meter.pk in wanted
    ]


def _act_on_states(
    statuses: Sequence[tuple[int, QuotaStatus]], *, at: datetime
) -> list[str]:
    """Raise the state alerts and write the quota webhook events, together."""
    from .webhook_events import record_quota_changes

    with transaction.atomic():
        raised = raise_alerts(
            specs=[
                spec
                for account_id, status in statuses
                if (spec := _state_alert(account_id, status)) is not None
            ]
        )
        record_quota_changes(statuses=statuses, at=at)
    return raised


def _state_alert(account_id: int, status: QuotaStatus) -> AlertSpec | None:
    if status.state not in _STATE_ALERTS:
        return None
    kind, template = _STATE_ALERTS[status.state]
    unit = status.meter.unit
    return AlertSpec(
        account_id=account_id,
        meter_id=status.meter.pk,
        kind=kind,
        period_start=status.period.start,
        message=template.format(
            meter=status.meter.name,
            percent=status.percent,
            used=format_quantity(status.used, unit),
            limit=format_quantity(status.limit, unit),
        ),
    )


def evaluate_usage_alerts(
    *, accounts: Sequence[Account], at: datetime, meter_ids: Iterable[int] = ()
) -> list[str]:
    """Raise each meter's state alert (80%, exceeded, blocked) once a period,
    and the quota webhook events of the states found.

    Runs after the write that changed the usage (a task, see
    ``request_alert_evaluation``), never inside the ingest transaction.
    """
    return _act_on_states(
        _statuses(accounts=accounts, at=at, meter_ids=meter_ids), at=at
    )


@dataclass(frozen=True, slots=True)
class UsageRow:
    """A usage total just written, with what screens it for alerts."""

    account_id: int
    meter_id: int
    used: int
    allowance: int  # the plan's: no limit is below it
    hard_blocked: bool
    topped_up_or_consented: bool  # a grant or consent may move the limit or state
    # The write lowered it (a storage deletion): a meter over its limit may
    # be back under it (``quota.resolved``).
    decreased: bool = False
    # The state alerts of the period already raised, when the write read
    # them with the totals (None: look them up).
    raised: tuple[str, ...] | None = None


# The state alerts whose presence settles a row (``rows_needing_alerts``);
# ingestion reads them with the counter totals.
SCREENED_KINDS = (Alert.Kind.WARNING_80, Alert.Kind.EXCEEDED)


def rows_needing_alerts(
    *, rows: Iterable[UsageRow], period_start: date
) -> set[tuple[int, int]]:
    """The (account, meter) rows whose state alerts may not all be raised.

    Under 80% of the plan allowance a row is surely ``ok``. Under the
    allowance it is at most ``warning``: done once ``warning_80`` exists.
    With nothing to move the limit or the state (no grant, no consent, no
    hard block) the limit is the allowance: done once ``exceeded`` exists.
    One query, and only when some row reached 80% without knowing its
    raised alerts; one more for rows a write lowered (see ``decreased``).
    """
    candidates, lowered = _screen_rows(list(rows))
    resolving = _over_limit_pairs(lowered)
    if not candidates:
        return resolving

    def key(row: UsageRow, kind: str) -> str:
        return AlertSpec(
            account_id=row.account_id,
            meter_id=row.meter_id,
            kind=kind,
            period_start=period_start,
            message="",
        ).dedupe_key

    unknown = [r for r in candidates if r.raised is None]
    raised = set(
        Alert.objects.filter(
            dedupe_key__in=[key(r, kind) for r in unknown for kind in SCREENED_KINDS]
        ).values_list("dedupe_key", flat=True)
        if unknown
        else ()
    )

    def has(row: UsageRow, kind: str) -> bool:
        if row.raised is not None:
            return kind in row.raised
        return key(row, kind) in raised

    def done(row: UsageRow) -> bool:
        if row.hard_blocked:
            return False
        if row.used < row.allowance:
            return has(row, Alert.Kind.WARNING_80)
        return not row.topped_up_or_consented and has(row, Alert.Kind.EXCEEDED)

    return resolving | {(r.account_id, r.meter_id) for r in candidates if not done(r)}


def _screen_rows(rows: list[UsageRow]) -> tuple[list[UsageRow], list[UsageRow]]:
    """The rows at 80% of their allowance or hard-blocked (candidates for a
    state alert), and the rows the write lowered (maybe resolved)."""
    candidates = [r for r in rows if r.hard_blocked or r.used * 5 >= r.allowance * 4]
    # A lowered row may be back under its limit at 80-99% too, where its
    # alerts are all raised: the notice decides, not the screen.
    lowered = [r for r in rows if r.decreased]
    return candidates, lowered


def _over_limit_pairs(rows: list[UsageRow]) -> set[tuple[int, int]]:
    """Of rows a write lowered, those last seen over their limit (one query,
    only for writes that lowered a level)."""
    if not rows:
        return set()
    from .webhook_events import over_limit_pairs

    return over_limit_pairs(pairs={(r.account_id, r.meter_id) for r in rows})


def request_alert_evaluation(*, rows: Iterable[UsageRow], at: datetime) -> None:
    """Have the worker evaluate alerts for the rows a write changed that may
    need one (``rows_needing_alerts``, one query only when a row is at 80%).

    The rows travel with the task, which screens them again when it runs:
    while the queue is behind, several writes queue the same row, and the
    first evaluation makes the others cheap.
    """
    from ..tasks import enqueue_with_write, evaluate_alerts

    rows = list(rows)
    due = rows_needing_alerts(rows=rows, period_start=period_of(at).start)
    if due:
        enqueue_with_write(
            evaluate_alerts,
            rows=[
                [
                    r.account_id,
                    r.meter_id,
                    r.used,
                    r.allowance,
                    r.hard_blocked,
                    r.topped_up_or_consented,
                    r.decreased,
                ]
                for r in rows
                if (r.account_id, r.meter_id) in due
            ],
            at=at.isoformat(),
        )


def evaluate_screened_alerts(*, rows: Iterable[UsageRow], at: datetime) -> list[str]:
    """The task's side of ``request_alert_evaluation``: screen again, then
    evaluate each row still due with the one-statement read; a hard block
    alerts on every meter of its account, so those go the full way."""
    rows = list(rows)
    due = rows_needing_alerts(rows=rows, period_start=period_of(at).start)
    blocked = {r.account_id for r in rows if r.hard_blocked}
    statuses: list[tuple[int, QuotaStatus]] = []
    if blocked:
        accounts = list(Account.objects.select_related("plan").filter(pk__in=blocked))
        statuses += _statuses(accounts=accounts, at=at)
    for account_id, meter_id in sorted(due):
        if account_id in blocked:
            continue
        status = quota_status_by_pk(account_id=account_id, meter_id=meter_id, at=at)
        statuses.append((account_id, status))
    return _act_on_states(statuses, at=at)


def request_quota_evaluation(*, account_ids: Iterable[int], at: datetime) -> None:
    """Have the worker evaluate every meter of these accounts after the
    write commits: a limit moved (a pack, a refund, a block), so states,
    alerts and quota events may change, ``quota.resolved`` included."""
    from ..tasks import enqueue_with_write, evaluate_account_quotas

    ids = sorted(set(account_ids))
    if ids:
        enqueue_with_write(evaluate_account_quotas, account_ids=ids, at=at.isoformat())


def raise_carried_over_alerts(*, at: datetime, chunk: int = 500) -> int:
    """Alerts for levels that carry into a new period without any write.

    Storage and job slots keep their level across periods, so their alert
    of a new period cannot wait for the next usage write: the periodic sweep
    evaluates every account whose level is at 80% of its plan allowance or
    more (the least its limit can be), and every hard-blocked account. It
    also evaluates every account with a meter last seen over its limit: a
    new month resets the counters, which the platform is told
    (``quota.resolved``).
    """
    from .webhook_events import over_limit_account_ids

    allowance = PlanAllowance.objects.filter(
        plan_id=OuterRef("account__plan_id"), meter_id=OuterRef("meter_id")
    ).values("amount")[:1]
    ids = set(
        GaugeLevel.objects.alias(
            level5=F("level") * 5, allowance4=Coalesce(Subquery(allowance), 0) * 4
        )
        .filter(level__gt=0, level5__gte=F("allowance4"))
        .values_list("account_id", flat=True)
    )
    ids |= set(Account.objects.filter(hard_blocked=True).values_list("pk", flat=True))
    ids |= set(JobSlot.objects.active().values_list("account_id", flat=True).distinct())
    ids |= over_limit_account_ids()
    raised = 0
    ordered = sorted(ids)
    for start in range(0, len(ordered), chunk):
        accounts = list(
            Account.objects.select_related("plan").filter(
                pk__in=ordered[start : start + chunk]
            )
        )
        raised += len(evaluate_usage_alerts(accounts=accounts, at=at))
    return raised


def dismiss_alert(*, alert: Alert) -> None:
    Alert.objects.filter(pk=alert.pk, dismissed_at__isnull=True).update(
        dismissed_at=timezone.now()
    )
