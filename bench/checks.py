"""Verifications of ``make bench`` that read the database (and the API).

Usage: checks.py drain|alerts|authorize|caches. Each prints what it found
and records its checks (and figures) in $BENCH_RESULTS; the exit status is 1
when a check failed.

- ``drain [SECONDS]``: wait until the task queue has nothing ready or
  running; failed tasks fail the check.
- ``alerts``: the latency of every usage alert (80%, exceeded, blocked):
  ``created_at`` minus the ``received_at`` of the event at which the running
  sum of the account's meter reached the threshold. ``received_at`` is taken
  before the batch commits, so the figure errs long. Then every alert a full
  evaluation would raise now (``usage_alert_specs``) must exist, once.
- ``authorize``: for ~50 accounts, near and over their limits among them,
  ``POST .../authorize`` of one unit must agree with what ``GET .../quotas``
  says of the same meter: the same ``state``, ``remaining`` less the unit
  when it fits (docs/billing-rules.md), allowed iff it fits or overage.
- ``caches``: storage levels never below zero and equal to the sum of the
  events; then ``rebuild_usage`` must leave counters, levels and top-up
  burns exactly as the incremental writes left them.
"""

import io
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from datetime import datetime
from decimal import ROUND_CEILING

import django

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db.models import Count, Q, Sum  # noqa: E402
from django.tasks.base import TaskResultStatus  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tasks_db.models import DBTaskResult  # noqa: E402

from bench.results import record, record_check  # noqa: E402
from billing.models import (  # noqa: E402
    Account,
    Alert,
    GaugeLevel,
    Grant,
    GrantBurn,
    Meter,
    PlanAllowance,
    UsageCounter,
    UsageEvent,
)
from billing.units import WARNING_RATIO, Period  # noqa: E402

RAW = "bench-raw-"
USAGE_KINDS = [Alert.Kind.WARNING_80, Alert.Kind.EXCEEDED, Alert.Kind.BLOCKED]


def _show(failures: list[str], limit: int = 5) -> list[str]:
    if len(failures) <= limit:
        return failures
    return [*failures[:limit], f"... {len(failures) - limit} more"]


def drain(timeout: float = 60) -> bool:
    busy = [TaskResultStatus.READY, TaskResultStatus.RUNNING]
    start = time.monotonic()
    while (left := DBTaskResult.objects.filter(status__in=busy).count()) and (
        time.monotonic() - start < timeout
    ):
        time.sleep(0.5)
    waited = time.monotonic() - start
    failures = []
    if left:
        failures.append(f"{left} tasks still ready or running after {timeout:.0f} s")
    failed = list(
        DBTaskResult.objects.filter(status=TaskResultStatus.FAILED)
        .values_list("task_path", "exception_class_path")
        .annotate(n=Count("id"))
    )
    for path, exc, n in failed:
        failures.append(f"{n} x {path} failed: {exc}")
    done = DBTaskResult.objects.filter(status=TaskResultStatus.SUCCESSFUL).count()
    print(
        f"task queue: drained in {waited:.1f} s, {done} tasks done"
        + (f"; FAIL {'; '.join(failures)}" if failures else "")
    )
    return record_check("task queue drained, no task failed", failures)


def _thresholds(limit: int) -> dict[str, int]:
    """The least usage at which each alert kind is due (rules.usage_state)."""
    warning = int((WARNING_RATIO * limit).to_integral_value(rounding=ROUND_CEILING))
    return {Alert.Kind.WARNING_80: warning, Alert.Kind.EXCEEDED: limit}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * q + 0.5) - 1))]


def alerts() -> bool:
    ok = _alert_latency()
    return _alert_completeness() and ok


def _crossed_at(
    events: list[tuple[datetime, datetime, int]],
    *,
    threshold: int,
    period: Period | None,
) -> datetime | None:
    """When the running sum (of ``period``'s events, for a counter) reached
    ``threshold``: the arrival of the event that took it there."""
    running = 0
    for received_at, timestamp, quantity in events:
        if period is not None and not period.starts_at <= timestamp < period.ends_at:
            continue
        running += quantity
        if running >= threshold:
            return received_at
    return None


def _alert_latency() -> bool:
    rows = list(
        Alert.objects.filter(
            kind__in=USAGE_KINDS,
            meter__kind__in=[Meter.Kind.COUNTER, Meter.Kind.GAUGE],
        )
        .exclude(account__external_id__startswith=RAW)
        .values_list(
            "pk",
            "account_id",
            "meter_id",
            "meter__kind",
            "kind",
            "period_start",
            "created_at",
            "account__plan_id",
        )
    )
    allowances = {
        (plan, meter): amount
        for plan, meter, amount in PlanAllowance.objects.values_list(
            "plan_id", "meter_id", "amount"
        )
    }
    granted = set(Grant.objects.values_list("account_id", "meter_id"))
    # Events of the alerted (account, meter) pairs in arrival order; one pass
    # finds, for each alert, the first event at which the sum reached its
    # threshold.
    pairs = {(r[1], r[2]) for r in rows}
    events: dict[tuple[int, int], list[tuple[datetime, datetime, int]]] = defaultdict(
        list
    )
    qs = (
        UsageEvent.objects.filter(account_id__in={a for a, _ in pairs})
        .order_by("account_id", "meter_id", "received_at", "pk")
        .values_list("account_id", "meter_id", "received_at", "timestamp", "quantity")
    )
    for account_id, meter_id, received_at, timestamp, quantity in qs.iterator(
        chunk_size=20_000
    ):
        if (account_id, meter_id) in pairs:
            events[account_id, meter_id].append((received_at, timestamp, quantity))

    latencies, failures, skipped = [], [], 0
    for pk, account_id, meter_id, meter_kind, kind, start, created_at, plan in rows:
        if kind == Alert.Kind.BLOCKED or (account_id, meter_id) in granted:
            skipped += 1  # no threshold from the plan alone
            continue
        threshold = _thresholds(allowances.get((plan, meter_id), 0))[kind]
        crossed = _crossed_at(
            events[account_id, meter_id],
            threshold=threshold,
            period=Period(start) if meter_kind == Meter.Kind.COUNTER else None,
        )
        if crossed is None:
            failures.append(f"alert {pk} ({kind}) but usage never reached {threshold}")
        elif created_at < crossed:
            failures.append(f"alert {pk} ({kind}) raised before its threshold")
        else:
            latencies.append((created_at - crossed).total_seconds())

    if latencies:
        p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
        worst = max(latencies)
        record("figure", "alert latency p50", p50, "s", "-", "-")
        record("figure", "alert latency p99", p99, "s", "-", "<=5")
        record("figure", "alert latency max", worst, "s", "-", "-")
        print(
            f"alert latency: {len(latencies)} alerts, p50 {p50:.2f} s, p99 {p99:.2f} s,"
            f" max {worst:.2f} s (target p99 <= 5 s)"
        )
    else:
        failures.append("no usage alert was raised: the latency is not measured")
    by_kind = Alert.objects.filter(kind__in=USAGE_KINDS).values_list("kind")
    counts = dict(by_kind.annotate(n=Count("id")).order_by())
    print(f"alerts by kind: {counts}; {skipped} without a plan threshold skipped")
    return record_check(
        "alerts after their threshold", _show(failures), f"{len(latencies)} alerts"
    )


def _alert_completeness() -> bool:
    try:
        from billing.services.alerts import usage_alert_specs
    except ImportError:
        print("alerts complete: FAIL billing.services.alerts.usage_alert_specs missing")
        return record_check(
            "alerts complete", ["billing.services.alerts.usage_alert_specs missing"]
        )
    accounts = list(
        Account.objects.exclude(external_id__startswith=RAW).select_related("plan")
    )
    specs = usage_alert_specs(accounts=accounts, at=timezone.now())
    keys = {spec.dedupe_key for spec in specs}
    found = dict(
        Alert.objects.filter(dedupe_key__in=keys)
        .values_list("dedupe_key")
        .annotate(n=Count("id"))
        .order_by()
    )
    failures = [
        f"{key} raised {found.get(key, 0)} times"
        for key in sorted(keys)
        if found.get(key) != 1
    ]
    twice = (
        Alert.objects.filter(kind__in=USAGE_KINDS)
        .values("account_id", "meter_id", "kind", "period_start")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    if twice:
        failures.append(f"{twice} (account, meter, kind, period) alerted twice")
    print(
        f"alerts complete: {len(keys)} due by a full evaluation,"
        f" {len(keys) - len(failures)} raised once"
        + (f"; FAIL {'; '.join(_show(failures))}" if failures else ": ok")
    )
    return record_check("alerts complete", _show(failures), f"{len(keys)} due")


def _api(method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        os.environ["BENCH_URL"] + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Authorization": f"Bearer {os.environ['BENCH_KEY']}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


QUANTITY = 1


def _expected_answer(quota: dict) -> tuple[bool | None, str, int]:
    """What authorize must answer for QUANTITY, from the quotas entry.

    docs/billing-rules.md: blocked is refused; within the limit it is allowed
    with the same state and ``remaining - quantity``; past it a consent
    decides (overage, against its cap), else it is refused as exceeded.
    """
    state, remaining = quota["state"], quota["remaining"]
    if state == "blocked":
        return False, state, remaining
    if remaining >= QUANTITY:
        return True, state, remaining - QUANTITY
    if state == "overage":
        return None, state, remaining
    return False, "exceeded", remaining


def authorize(sample: int = 50) -> bool:
    """Compare authorize with quotas on a sample, tight accounts first."""
    tight = list(
        Account.objects.filter(
            plan__code__startswith="bench-tight-", external_id__startswith="bench-u-"
        )
        .order_by("pk")
        .values_list("external_id", flat=True)
    )
    others = list(
        Account.objects.filter(external_id__startswith="bench-u-")
        .exclude(plan__code__startswith="bench-tight-")
        .order_by("pk")
        .values_list("external_id", flat=True)
    )
    chosen = tight[:: max(1, len(tight) // (sample * 3 // 5))][: sample * 3 // 5]
    chosen += others[:: max(1, len(others) // (sample - len(chosen)))]
    chosen = chosen[:sample]
    failures, states, compared = [], defaultdict(int), 0
    for external_id in chosen:
        try:
            quotas = _api("GET", f"/api/v1/accounts/{external_id}/quotas")
            for quota in quotas["quotas"]:
                answer = _api(
                    "POST",
                    f"/api/v1/accounts/{external_id}/authorize",
                    {"meter": quota["meter"], "quantity": QUANTITY},
                )
                compared += 1
                states[quota["state"]] += 1
                expected = _expected_answer(quota)
                got = (answer["allowed"], answer["state"], answer["remaining"])
                if expected[0] is None:  # overage: allowed depends on the cap
                    got = (None, *got[1:])
                if got != expected:
                    failures.append(
                        f"{external_id} {quota['meter']}: authorize says"
                        f" {'/'.join(map(str, got))}, quotas imply"
                        f" {'/'.join(map(str, expected))}"
                    )
        except (OSError, KeyError, ValueError) as exc:
            failures.append(f"{external_id}: {exc}")
    print(
        f"authorize = quotas: {len(chosen)} accounts, {compared} meters"
        f" (states {dict(states)})"
        + (f"; FAIL {'; '.join(_show(failures))}" if failures else ": ok")
    )
    return record_check(
        "authorize = quotas", _show(failures), f"{compared} meters, {dict(states)}"
    )


def _caches() -> dict[str, dict]:
    """The derived rows, zero rows left out (no row and a zero row agree)."""
    service = ~Q(account__external_id__startswith=RAW)
    return {
        "counter": {
            (a, m, p): (used, covered, consented)
            for a, m, p, used, covered, consented in UsageCounter.objects.filter(
                service
            ).values_list(
                "account_id",
                "meter_id",
                "period_start",
                "used",
                "covered_by_grants",
                "consented_excess",
            )
            if used or covered or consented
        },
        "level": {
            (a, m): level
            for a, m, level in GaugeLevel.objects.filter(service).values_list(
                "account_id", "meter_id", "level"
            )
            if level
        },
        "burn": {
            (a, g, p): units
            for a, g, p, units in GrantBurn.objects.filter(service).values_list(
                "account_id", "grant_id", "period_start", "units"
            )
        },
        "grant consumed": {
            pk: consumed
            for pk, consumed in Grant.objects.filter(service).values_list(
                "pk", "consumed"
            )
            if consumed
        },
    }


def caches() -> bool:
    floor = []
    levels = {
        (a, m): level
        for a, m, level in GaugeLevel.objects.exclude(
            account__external_id__startswith=RAW
        ).values_list("account_id", "meter_id", "level")
    }
    sums = {
        (a, m): total
        for a, m, total in UsageEvent.objects.filter(meter__kind=Meter.Kind.GAUGE)
        .exclude(account__external_id__startswith=RAW)
        .values_list("account_id", "meter_id")
        .annotate(total=Sum("quantity"))
        .order_by()
    }
    for pair in sorted(levels.keys() | sums.keys()):
        level, total = levels.get(pair, 0), sums.get(pair, 0)
        if level < 0 or level != total:
            floor.append(
                f"account {pair[0]} meter {pair[1]}: level {level}, events {total}"
            )
    print(
        f"storage levels: {len(levels)} levels >= 0 and equal to their events"
        + (f"; FAIL {'; '.join(_show(floor))}" if floor else ": ok")
    )
    ok = record_check("levels = sum of events, >= 0", _show(floor), f"{len(levels)}")

    before = _caches()
    start = time.monotonic()
    out = io.StringIO()
    call_command("rebuild_usage", stdout=out)
    after = _caches()
    diffs = []
    for table, rows in before.items():
        for key in sorted(rows.keys() | after[table].keys()):
            if rows.get(key) != after[table].get(key):
                diffs.append(
                    f"{table} {key}: incremental {rows.get(key)}, rebuilt"
                    f" {after[table].get(key)}"
                )
    sizes = ", ".join(f"{len(rows)} {table}" for table, rows in before.items())
    print(
        f"rebuild_usage ({time.monotonic() - start:.1f} s, {out.getvalue().strip()}):"
        f" {sizes}"
        + (
            f"; FAIL {len(diffs)} differ: {'; '.join(_show(diffs))}"
            if diffs
            else ": ok"
        )
    )
    return record_check("rebuild_usage = caches", _show(diffs), sizes) and ok


if __name__ == "__main__":
    what, *args = sys.argv[1:]
    if what == "drain":
        ok = drain(*(float(a) for a in args))
    else:
        ok = {"alerts": alerts, "authorize": authorize, "caches": caches}[what]()
    sys.exit(0 if ok else 1)
