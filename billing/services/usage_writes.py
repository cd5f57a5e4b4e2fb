"""The set-based writes of a usage batch: counters, levels and what screens
the alerts, in one statement each on PostgreSQL (rows in key order, so
batches sharing accounts cannot deadlock) and through the ORM elsewhere.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import BigIntegerField, Case, F, Q, Value, When

from ..models import (
    Account,
    Alert,
    GaugeLevel,
    Grant,
    Meter,
    OverageConsent,
    PlanAllowance,
    UsageCounter,
    UsageEvent,
)
from ..units import (
    MAX_USAGE_TOTAL,
    Period,
)
from .alerts import SCREENED_KINDS
from .usage_batch import (
    ParsedEvent,
    counter_key,
    event_error,
    gauge_levels,
    limit_errors,
    reject,
)


@cache
def insert_and_count_statement() -> str:
    events = UsageEvent._meta.db_table
    counters = UsageCounter._meta.db_table
    return f"""
    WITH src AS (
        SELECT * FROM json_to_recordset(%(rows)s::json) AS e(
            id text, account_id bigint, meter_id bigint, quantity bigint,
            ts timestamptz, reported timestamptz, properties jsonb, hash text,
            period date, counter boolean)
    ), ins AS (
        INSERT INTO {events} (event_id, account_id, meter_id, quantity,
            timestamp, reported_timestamp, received_at, properties, payload_hash)
        SELECT id, account_id, meter_id, quantity, ts, reported, %(now)s,
            properties, hash
        FROM src ORDER BY account_id, id
        ON CONFLICT (account_id, event_id) DO NOTHING
        RETURNING account_id, event_id
    ), cnt AS (
        INSERT INTO {counters} AS c (account_id, meter_id, period_start, used,
            covered_by_grants, consented_excess)
        SELECT s.account_id, s.meter_id, s.period, SUM(s.quantity)::bigint, 0, 0
        FROM src s JOIN ins i ON i.account_id = s.account_id AND i.event_id = s.id
        WHERE s.counter GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (account_id, meter_id, period_start)
        DO UPDATE SET used = c.used + EXCLUDED.used
        RETURNING c.account_id, c.meter_id, c.period_start, c.used,
            {_screen("c")}, {_MAY_FOLD}
    )
    SELECT (SELECT json_agg(json_build_array(account_id, event_id)) FROM ins),
        (SELECT json_agg(json_build_array(account_id, meter_id, period_start,
            used, allowance, blocked, may_fold, {_raised("cnt")})) FROM cnt)
    """


@dataclass(frozen=True, slots=True)
class Total:
    """A counter or level after the batch, with what alerts are screened by."""

    used: int
    allowance: int
    hard_blocked: bool
    # A top-up or consent of the account and meter may change the fold (for
    # gauges: may move the limit or the state).
    may_fold: bool = False
    # The period's state alerts already raised (None: not read).
    raised: tuple[str, ...] | None = None


def write_batch(
    new: list[ParsedEvent],
    *,
    at: datetime,
    counted: dict[tuple[int, int, Any], Total] | None = None,
    fast: bool = True,
) -> dict[tuple[int, int, Any], Total]:
    """Add the batch to the counters and levels; raise if a limit breaks.

    ``counted``: the counter totals when the insert already added the batch
    to them; ``fast``: PostgreSQL's set-based statements (else the ORM).
    Returns the totals after the batch by (account, meter, period start)
    (``None`` for gauges).
    """
    counter_deltas, gauge_deltas = _deltas(new)
    if not fast:
        _add_to_counters(counter_deltas)
        _add_to_gauges(gauge_deltas, now=at)
        return _portable_totals(counter_deltas, gauge_deltas)
    totals = (
        counted if counted is not None else _add_to_counters_checked(counter_deltas)
    )
    over = [k for k, t in totals.items() if t.used > MAX_USAGE_TOTAL]
    levels: dict[tuple[int, int, Any], Total] = {}
    if not over:
        levels = _add_to_gauges_checked(gauge_deltas, now=at)
    if over or len(levels) < len(gauge_deltas):
        _reject_past_limits(
            new,
            totals=totals,
            levels=levels,
            counter_deltas=counter_deltas,
            gauge_deltas=gauge_deltas,
        )
    return totals | levels


def _deltas(
    new: list[ParsedEvent],
) -> tuple[dict[tuple[int, int, Any], int], dict[tuple[int, int], list[int]]]:
    """Counter sums by (account, meter, period start); gauge deltas in order
    by (account, meter)."""
    counter_deltas: dict[tuple[int, int, Any], int] = defaultdict(int)
    gauge_deltas: dict[tuple[int, int], list[int]] = defaultdict(list)
    for p in new:
        if p.meter.kind == Meter.Kind.COUNTER:
            counter_deltas[counter_key(p)] += p.quantity
        else:
            gauge_deltas[(p.account_id, p.meter.pk)].append(p.quantity)
    return counter_deltas, gauge_deltas


def _reject_past_limits(
    new: list[ParsedEvent],
    *,
    totals: dict[tuple[int, int, Any], Total],
    levels: dict[tuple[int, int, Any], Total],
    counter_deltas: dict[tuple[int, int, Any], int],
    gauge_deltas: dict[tuple[int, int], list[int]],
) -> None:
    """Nothing of this batch will commit: say which events broke a limit,
    from the totals before the batch."""
    counters_before = {k: t.used - counter_deltas[k] for k, t in totals.items()}
    levels_before = gauge_levels(new)
    for (account_id, meter_id, _), total in levels.items():
        key = (account_id, meter_id)
        levels_before[key] = total.used - sum(gauge_deltas[key])
    reject(
        limit_errors(new, levels=levels_before, counters=counters_before)
        or [event_error(new[0].index, "negative_level", "A level changed; retry.")]
    )


# Alerts screen rows by the plan allowance and the account's hard block; the
# writes return both with the new totals, so the screen costs no query.
_SCREEN = (
    "coalesce((SELECT pa.amount FROM {allowance} pa JOIN {account} a"
    " ON a.plan_id = pa.plan_id WHERE a.id = {row}.account_id"
    " AND pa.meter_id = {row}.meter_id), 0) AS allowance,"
    " (SELECT a.hard_blocked FROM {account} a WHERE a.id = {row}.account_id)"
    " AS blocked"
)


# Whether a refold may be needed: a grant or a consent of the account and
# meter that had not ended before the period started. A superset of what the
# fold uses (``GrantQuerySet.live_during``, ``covering_consents_filter``): a
# needless refold costs time, never a wrong figure.
_STARTED = "(c.period_start::timestamp AT TIME ZONE 'UTC')"


_MAY_FOLD = (
    f"(EXISTS (SELECT 1 FROM {Grant._meta.db_table} g"
    " WHERE g.account_id = c.account_id AND g.meter_id = c.meter_id"
    f" AND (g.expires_at IS NULL OR g.expires_at > {_STARTED})"
    f" AND (g.revoked_at IS NULL OR g.revoked_at > {_STARTED}))"
    f" OR EXISTS (SELECT 1 FROM {OverageConsent._meta.db_table} o"
    " WHERE o.account_id = c.account_id AND o.meter_id = c.meter_id"
    f" AND (o.revoked_at IS NULL OR o.revoked_at > {_STARTED}))) AS may_fold"
)


# Gauges: a live grant or consent may move the limit or the state (the
# alert screen treats the row as it treats a counter with a top-up).
_MAY_CHANGE_GAUGE = (
    f"(EXISTS (SELECT 1 FROM {Grant._meta.db_table} gr"
    " WHERE gr.account_id = g.account_id AND gr.meter_id = g.meter_id"
    " AND (gr.expires_at IS NULL OR gr.expires_at > %s)"
    " AND gr.revoked_at IS NULL)"
    f" OR EXISTS (SELECT 1 FROM {OverageConsent._meta.db_table} o"
    " WHERE o.account_id = g.account_id AND o.meter_id = g.meter_id"
    " AND (o.revoked_at IS NULL OR o.revoked_at > %s))) AS may_change"
)


def _raised(row: str) -> str:
    """The state alerts of the row's period already raised, as a JSON array
    (read only for a row at 80% of its allowance: the alert screen)."""
    return (
        f"CASE WHEN {row}.used * 5 >= {row}.allowance * 4 THEN"
        f" (SELECT coalesce(json_agg(al.kind), '[]'::json)"
        f" FROM {Alert._meta.db_table} al WHERE al.account_id = {row}.account_id"
        f" AND al.meter_id = {row}.meter_id AND al.period_start = {row}.period_start"
        f" AND al.kind IN ({', '.join(repr(str(k)) for k in SCREENED_KINDS)}))"
        " END"
    )


def _screen(row: str) -> str:
    return _SCREEN.format(
        allowance=PlanAllowance._meta.db_table,
        account=Account._meta.db_table,
        row=row,
    )


def _add_to_counters_checked(
    deltas: dict[tuple[int, int, Any], int],
) -> dict[tuple[int, int, Any], Total]:
    """PostgreSQL: one upsert, rows in key order; returns the new totals.

    The upsert holds each counter row until commit: batches of one account
    and meter queue there (and refolds wait on it, ``refold_counter``).
    """
    if not deltas:
        return {}
    table = UsageCounter._meta.db_table
    keys = sorted(deltas)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS c"
            " (account_id, meter_id, period_start, used, covered_by_grants,"
            " consented_excess)"
            " SELECT a, m, p, d, 0, 0 FROM unnest(%s::bigint[], %s::bigint[],"
            " %s::date[], %s::numeric[]) AS u(a, m, p, d) ORDER BY a, m, p"
            " ON CONFLICT (account_id, meter_id, period_start)"
            " DO UPDATE SET used = c.used + EXCLUDED.used"
            f" RETURNING c.account_id, c.meter_id, c.period_start, c.used, "
            + _screen("c")
            + ", "
            + _MAY_FOLD,
            [
                [k[0] for k in keys],
                [k[1] for k in keys],
                [k[2] for k in keys],
                [deltas[k] for k in keys],
            ],
        )
        return {
            (a, m, p): Total(used, allowance, blocked, may_fold)
            for a, m, p, used, allowance, blocked, may_fold in cursor.fetchall()
        }


def _add_to_gauges_checked(
    deltas: dict[tuple[int, int], list[int]], *, now: datetime
) -> dict[tuple[int, int, Any], Total]:
    """PostgreSQL: add each (account, meter)'s deltas where the level stays
    within [0, 10^18] at every step of the batch, in arrival order.

    Missing rows are created at 0; the rows are then locked in key order and
    updated by one statement whose condition is the level as recorded plus
    the batch's lowest and highest running sum. Returns the rows updated: a
    row missing from the result broke a limit.
    """
    if not deltas:
        return {}
    keys = sorted(deltas)
    lows, highs = [], []
    for key in keys:
        running = low = high = 0
        for quantity in deltas[key]:
            running += quantity
            low, high = min(low, running), max(high, running)
        lows.append(low)
        highs.append(high)
    table = GaugeLevel._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (account_id, meter_id, level, updated_at)"
            " SELECT a, m, 0, %s FROM unnest(%s::bigint[], %s::bigint[]) AS u(a, m)"
            " ORDER BY a, m ON CONFLICT (account_id, meter_id) DO NOTHING",
            [now, [k[0] for k in keys], [k[1] for k in keys]],
        )
        cursor.execute(
            "WITH d AS (SELECT * FROM unnest(%s::bigint[], %s::bigint[],"
            " %s::numeric[], %s::numeric[], %s::numeric[])"
            " AS d(account_id, meter_id, delta, low, high)),"
            f" locked AS (SELECT g.id, d.delta, d.low, d.high FROM {table} g"
            " JOIN d ON g.account_id = d.account_id AND g.meter_id = d.meter_id"
            " ORDER BY g.account_id, g.meter_id FOR NO KEY UPDATE OF g)"
            f" UPDATE {table} g SET level = g.level + l.delta, updated_at = %s"
            " FROM locked l WHERE g.id = l.id AND g.level + l.low >= 0"
            " AND g.level + l.high <= %s"
            " RETURNING g.account_id, g.meter_id, g.level, "
            + _screen("g")
            + ", "
            + _MAY_CHANGE_GAUGE,
            [
                [k[0] for k in keys],
                [k[1] for k in keys],
                [sum(deltas[k]) for k in keys],
                lows,
                highs,
                now,
                MAX_USAGE_TOTAL,
                now,
                now,
            ],
        )
        return {
            (a, m, None): Total(level, allowance, blocked, may_change)
            for a, m, level, allowance, blocked, may_change in cursor.fetchall()
        }


def _portable_totals(
    counter_deltas: dict[tuple[int, int, Any], int],
    gauge_deltas: dict[tuple[int, int], list[int]],
) -> dict[tuple[int, int, Any], Total]:
    """The totals the PostgreSQL writes return, read back (other databases)."""
    account_ids = {k[0] for k in counter_deltas} | {k[0] for k in gauge_deltas}
    accounts = dict(
        Account.objects.filter(pk__in=account_ids).values_list("pk", "plan_id")
    )
    blocked = set(
        Account.objects.filter(pk__in=account_ids, hard_blocked=True).values_list(
            "pk", flat=True
        )
    )
    allowances = {
        (plan_id, meter_id): amount
        for plan_id, meter_id, amount in PlanAllowance.objects.filter(
            plan_id__in=set(accounts.values())
        ).values_list("plan_id", "meter_id", "amount")
    }
    counters = _counter_totals_by_key(counter_deltas)
    levels = _gauge_levels_by_key(gauge_deltas)
    may_fold = _may_fold(counter_deltas)
    totals = {}
    for key, used in [*counters.items(), *levels.items()]:
        account_id, meter_id = key[0], key[1]
        totals[key] = Total(
            used,
            allowances.get((accounts[account_id], meter_id), 0),
            account_id in blocked,
            # Gauges: evaluated whenever at 80% (the screen's safe side).
            key[2] is None or (account_id, meter_id) in may_fold,
        )
    return totals


def _may_fold(deltas: dict[tuple[int, int, Any], int]) -> set[tuple[int, int]]:
    """The ``_MAY_FOLD`` screen through the ORM (other databases)."""
    if not deltas:
        return set()
    since = Period(min(k[2] for k in deltas)).starts_at
    account_ids = {k[0] for k in deltas}
    meter_ids = {k[1] for k in deltas}
    grants = Grant.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=since),
        Q(revoked_at__isnull=True) | Q(revoked_at__gt=since),
        account_id__in=account_ids,
        meter_id__in=meter_ids,
    ).values_list("account_id", "meter_id")
    consents = OverageConsent.objects.filter(
        Q(revoked_at__isnull=True) | Q(revoked_at__gt=since),
        account_id__in=account_ids,
        meter_id__in=meter_ids,
    ).values_list("account_id", "meter_id")
    return set(grants) | set(consents)


def _counter_totals_by_key(
    deltas: dict[tuple[int, int, Any], int],
) -> dict[tuple[int, int, Any], int]:
    found = UsageCounter.objects.filter(
        account_id__in={k[0] for k in deltas},
        meter_id__in={k[1] for k in deltas},
        period_start__in={k[2] for k in deltas},
    ).values_list("account_id", "meter_id", "period_start", "used")
    return {(a, m, p): used for a, m, p, used in found if (a, m, p) in deltas}


def _gauge_levels_by_key(
    deltas: dict[tuple[int, int], list[int]],
) -> dict[tuple[int, int, Any], int]:
    found = GaugeLevel.objects.filter(
        account_id__in={k[0] for k in deltas}, meter_id__in={k[1] for k in deltas}
    ).values_list("account_id", "meter_id", "level")
    return {(a, m, None): level for a, m, level in found if (a, m) in deltas}


def _add_to_counters(deltas: dict[tuple[int, int, Any], int]) -> None:
    """One upsert: used = used + delta (SQLite: the transaction holds the
    database write lock, the checks ran before)."""
    if not deltas:
        return
    table = UsageCounter._meta.db_table
    keys = sorted(deltas)
    adapt = connection.ops.adapt_datefield_value
    params: list[Any] = []
    for account_id, meter_id, period_start in keys:
        params += [account_id, meter_id, adapt(period_start)]
        params.append(deltas[(account_id, meter_id, period_start)])
    rows = ", ".join(["(%s, %s, %s, %s, 0, 0)"] * len(keys))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table}"
            " (account_id, meter_id, period_start, used, covered_by_grants,"
            " consented_excess)"
            f" VALUES {rows}"
            " ON CONFLICT (account_id, meter_id, period_start)"
            f" DO UPDATE SET used = {table}.used + EXCLUDED.used",
            params,
        )


def _add_to_gauges(deltas: dict[tuple[int, int], list[int]], *, now: datetime) -> None:
    """Create missing rows at 0, then add every delta (portable path, checked
    before under SQLite's write lock).

    Not an INSERT ... ON CONFLICT upsert: CHECK (level >= 0) is tested on the
    proposed insert row before the conflict is seen, so a negative delta on an
    existing level would fail.
    """
    if not deltas:
        return
    GaugeLevel.objects.bulk_create(
        [
            GaugeLevel(
                account_id=account_id, meter_id=meter_id, level=0, updated_at=now
            )
            for account_id, meter_id in sorted(deltas)
        ],
        ignore_conflicts=True,
    )
    by_meter: dict[int, dict[int, int]] = defaultdict(dict)
    for (account_id, meter_id), quantities in deltas.items():
        by_meter[meter_id][account_id] = sum(quantities)
    for meter_id, by_account in by_meter.items():
        GaugeLevel.objects.filter(
            meter_id=meter_id, account_id__in=list(by_account)
        ).update(
            level=F("level")
            + Case(
                *[
                    When(account_id=account_id, then=Value(delta))
                    for account_id, delta in by_account.items()
                ],
                default=Value(0),
                output_field=BigIntegerField(),
            ),
            updated_at=now,
        )
