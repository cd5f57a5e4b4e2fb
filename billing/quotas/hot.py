"""Authorize and job-slot allocation read their facts in one statement each.

The platform asks before every upload and stream, so this read is built for
speed: one hand-written SQL statement finds the account by its external id
and the meter by its code, and reads every cached fact the answer needs as
scalar subqueries (plan allowance, live grants, this period's counter or the
gauge level, active slots, the live consent, an unfolded renewal). The ORM
would compile the same query in milliseconds on every call; this string is
built once. The arithmetic is not repeated here: the facts go through the
same ``billing.quotas.status`` rules as every other reader, and a test holds this
loader equal to the set-based one of the pages (``tests/billing/quotas/test_hot.py``).

Mirrored rules, kept in step by that test: a grant counts at ``at`` as in
``GrantQuerySet.active_at``; an unfolded term as in
``GrantQuerySet.unfolded_terms``; the slot limit as in ``job_slot_limit``.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn

from django.db import connection
from django.utils import timezone

from ..errors import Unauthenticated, UnknownAccount, UnknownMeter
from ..models import (
    Account,
    ApiKey,
    GaugeLevel,
    Grant,
    JobSlot,
    Meter,
    OverageConsent,
    PlanAllowance,
    UsageCounter,
)
from ..units import period_of
from .status import QuotaStatus, status_from_facts

if TYPE_CHECKING:
    from ..selectors import Authorization

METER_FIELDS = (
    "id",
    "code",
    "name",
    "unit",
    "kind",
    "overage_price_cents",
    "price_quantum",
    "quantum_label",
    "display_order",
)
_ACCOUNT_FIELDS = ("id", "kind", "name", "external_id", "plan_id", "hard_blocked")
_CONSENT_FIELDS = ("id", "cap_cents", "period_start", "recurring", "given_at")


@cache
def _statement(by: str = "ids") -> str:
    """``by="ids"``: the platform's ids (external id, meter code); ``"key"``:
    the same, and the caller's API key checked in the same round trip (a row
    only for a live key; no account or meter columns when they are unknown);
    ``"pk"``: primary keys (the alert evaluation)."""
    grant = Grant._meta.db_table
    consent = OverageConsent._meta.db_table
    mine = "account_id = a.id AND meter_id = m.id"
    live_grants = (
        f"FROM {grant} WHERE {mine} AND effective_at <= %(at)s"
        " AND (expires_at IS NULL OR expires_at > %(at)s)"
        " AND (revoked_at IS NULL OR revoked_at > %(at)s)"
    )
    columns = [
        *(f"a.{f}" for f in _ACCOUNT_FIELDS),
        *(f"m.{f}" for f in METER_FIELDS),
        "pa.amount",
        f"(SELECT SUM(amount) {live_grants})",
        f"(SELECT SUM(consumed) {live_grants})",
        "c.used",
        "c.covered_by_grants",
        "c.consented_excess",
        "gl.level",
        f"CASE WHEN m.kind = %(allocation)s THEN (SELECT COUNT(*)"
        f" FROM {JobSlot._meta.db_table} WHERE account_id = a.id"
        " AND status = %(active)s) END",
        *(f"oc.{f}" for f in _CONSENT_FIELDS),
        f"(SELECT id FROM {grant} WHERE {mine} AND effective_at > created_at"
        " AND effective_at >= %(period_starts_at)s AND effective_at <= %(at)s"
        " AND start_folded_at IS NULL LIMIT 1)",
    ]
    accounts, meters = Account._meta.db_table, Meter._meta.db_table
    if by == "key":
        rows = (
            f"{ApiKey._meta.db_table} k"
            f" LEFT JOIN {accounts} a ON a.external_id = %(account)s"
            f" LEFT JOIN {meters} m ON m.code = %(meter)s"
        )
    elif by == "ids":
        rows = (
            f"{accounts} a JOIN {meters} m"
            " ON a.external_id = %(account)s AND m.code = %(meter)s"
        )
    else:
        rows = (
            f"{accounts} a JOIN {meters} m ON a.id = %(account)s AND m.id = %(meter)s"
        )
    # Plain joins where one row at most can match; one lookup finds the live
    # consent for all its columns.
    return (
        f"SELECT {', '.join(columns)} FROM {rows}"
        f" LEFT JOIN {PlanAllowance._meta.db_table} pa"
        " ON pa.plan_id = a.plan_id AND pa.meter_id = m.id"
        f" LEFT JOIN {UsageCounter._meta.db_table} c"
        " ON c.account_id = a.id AND c.meter_id = m.id AND c.period_start = %(period)s"
        f" LEFT JOIN {GaugeLevel._meta.db_table} gl"
        " ON gl.account_id = a.id AND gl.meter_id = m.id"
        f" LEFT JOIN {consent} oc ON oc.id = (SELECT id FROM {consent}"
        f" WHERE {mine} AND revoked_at IS NULL ORDER BY given_at DESC, id DESC LIMIT 1)"
        + (
            " WHERE k.key_hash = %(key)s AND k.revoked_at IS NULL"
            if by == "key"
            else ""
        )
    )


def authorize_by_ids(
    *,
    external_id: str,
    meter_code: str,
    quantity: int,
    at: datetime | None = None,
    api_key_hash: str | None = None,
) -> "Authorization":
    """``authorize_usage`` for the platform's ids, in one read.

    With ``api_key_hash`` the same statement checks the caller's key, so the
    API answers in one round trip; raises ``Unauthenticated`` when that key
    is not live. Raises ``UnknownAccount`` / ``UnknownMeter`` (a second query
    tells which, on the error path only).
    """
    from ..selectors import authorize_from_facts

    at = at or timezone.now()
    if api_key_hash is None:
        facts = _load(by="ids", account=external_id, meter=meter_code, at=at)
    else:
        facts = _load(
            by="key", account=external_id, meter=meter_code, at=at, key=api_key_hash
        )
        if facts is _NO_KEY:
            raise Unauthenticated("The API key is not live.")
    if facts is None:
        _raise_unknown(external_id=external_id, meter_code=meter_code)
    return authorize_from_facts(quantity=quantity, at=at, **facts)


def quota_status_by_pk(*, account_id: int, meter_id: int, at: datetime) -> QuotaStatus:
    """The status of one (account, meter) in one read: ``quota_status``, and
    the alert evaluation after a usage write."""
    facts = _load(by="pk", account=account_id, meter=meter_id, at=at)
    if facts is None:
        raise UnknownMeter(f"No meter {meter_id} for account {account_id}.")
    return status_from_facts(at=at, **facts)


# ``_load(by="key")`` when the key is not live (no row at all).
_NO_KEY: dict[str, Any] = {}


def _load(
    *, by: str, account: str | int, meter: str | int, at: datetime, key: str = ""
) -> dict[str, Any] | None:
    """The facts of one (account, meter) at ``at``, as keyword arguments of
    ``status_from_facts``; None when the account or meter does not exist,
    ``_NO_KEY`` when ``by="key"`` and the key is not live."""
    period = period_of(at)
    ops = connection.ops
    params = {
        "at": ops.adapt_datetimefield_value(at),
        "period": ops.adapt_datefield_value(period.start),
        "period_starts_at": ops.adapt_datetimefield_value(period.starts_at),
        "active": JobSlot.Status.ACTIVE,
        "allocation": Meter.Kind.ALLOCATION,
        "account": account,
        "meter": meter,
    }
    if by == "key":
        params["key"] = key
    with connection.cursor() as cursor:
        cursor.execute(_statement(by), params)
        row = cursor.fetchone()
    if row is None:
        return _NO_KEY if by == "key" else None
    if row[0] is None or row[len(_ACCOUNT_FIELDS)] is None:
        return None  # by="key": a live key, but no such account or meter
    return _facts_from_row(row)


def _facts_from_row(row: Sequence[Any]) -> dict[str, Any]:
    """The statement's columns, in order: account, meter, six cached sums,
    level, slots, the live consent, an unfolded term."""
    values = iter(row)
    account_row = Account(**{f: next(values) for f in _ACCOUNT_FIELDS})
    account_row.hard_blocked = bool(account_row.hard_blocked)
    meter_row = Meter(**{f: next(values) for f in METER_FIELDS})
    allowance, granted, consumed, used, covered, consented = (
        next(values) or 0 for _ in range(6)
    )
    by_kind: dict[str, Any] = {
        Meter.Kind.GAUGE: next(values),
        Meter.Kind.ALLOCATION: next(values),
    }
    if meter_row.kind in by_kind:
        used = by_kind[meter_row.kind] or 0
    consent_values = {f: next(values) for f in _CONSENT_FIELDS}
    consent = None
    if consent_values["id"] is not None:
        consent = OverageConsent(account=account_row, meter=meter_row, **consent_values)
        consent.recurring = bool(consent.recurring)
        consent.period_start = _as_date(consent.period_start)
    return {
        "account": account_row,
        "meter": meter_row,
        "allowance": int(allowance),
        "granted": int(granted),
        "consumed": int(consumed),
        "used": int(used),
        "covered": int(covered),
        "consented_excess": Decimal(consented),
        "consent": consent,
        "started_term": next(values) is not None,
    }


def _as_date(value: date | str) -> date:
    """SQLite returns dates as text."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def _raise_unknown(*, external_id: str, meter_code: str) -> NoReturn:
    if not Account.objects.filter(external_id=external_id).exists():
        raise UnknownAccount(f"No account has the id {external_id!r}.")
    raise UnknownMeter(f"There is no meter called {meter_code!r}.")


@dataclass(frozen=True, slots=True)
class SlotFacts:
    """What allocation decides on, read under the account's lock."""

    meter_id: int
    limit: int  # plan allowance + live slot grants
    active: int
    suspended: int
    held_id: int | None  # this job's held slot, if any


@cache
def _slot_statement() -> str:
    slot = JobSlot._meta.db_table
    mine = "account_id = %(account)s AND meter_id = m.id"
    return (
        "SELECT m.id,"
        f" (SELECT amount FROM {PlanAllowance._meta.db_table}"
        "  WHERE plan_id = %(plan)s AND meter_id = m.id),"
        f" (SELECT SUM(amount) FROM {Grant._meta.db_table} WHERE {mine}"
        "  AND effective_at <= %(at)s"
        "  AND (expires_at IS NULL OR expires_at > %(at)s)"
        "  AND (revoked_at IS NULL OR revoked_at > %(at)s)),"
        f" (SELECT COUNT(*) FROM {slot}"
        "  WHERE account_id = %(account)s AND status = %(active)s),"
        f" (SELECT COUNT(*) FROM {slot}"
        "  WHERE account_id = %(account)s AND status = %(suspended)s),"
        f" (SELECT id FROM {slot} WHERE account_id = %(account)s"
        "  AND job_ref = %(job)s AND status IN (%(active)s, %(suspended)s))"
        f" FROM {Meter._meta.db_table} m WHERE m.code = 'job_slots'"
    )


def slot_facts(
    *, account_id: int, plan_id: int, job_ref: str, at: datetime
) -> SlotFacts:
    """The job-slot limit, the held counts and this job's slot, one read.

    Mirrors ``job_slot_limit`` (a test holds them equal); allocation runs it
    under the account's lock, so the counts cannot go stale.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            _slot_statement(),
            {
                "account": account_id,
                "plan": plan_id,
                "job": job_ref,
                "at": connection.ops.adapt_datetimefield_value(at),
                "active": JobSlot.Status.ACTIVE,
                "suspended": JobSlot.Status.SUSPENDED,
            },
        )
        meter_id, allowance, granted, active, suspended, held_id = cursor.fetchone()
    return SlotFacts(
        meter_id=meter_id,
        limit=int(allowance or 0) + int(granted or 0),
        active=active,
        suspended=suspended,
        held_id=held_id,
    )
