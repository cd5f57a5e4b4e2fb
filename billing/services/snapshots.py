"""Daily usage snapshots: one row per account, meter and day (a cache).

Each row is a function of the facts as of the day's last instant: level or
period usage from the events' own timestamps, the limit from grants live
then (a grant refunded later still counted), the state from the consent
live then. Taking a day twice adds nothing; ``refresh_usage_snapshots``
rewrites days a late event changed, and a rebuild rewrites them all with
the same numbers. Charts and storage GB-months read these.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from ..errors import InvalidRequest
from ..models import (
    Account,
    Grant,
    JobSlot,
    Meter,
    OverageConsent,
    PlanAllowance,
    UsageEvent,
    UsageSnapshot,
)
from ..quotas.facts import counter_fold, covering_consents_filter
from ..quotas.rules import (
    CONSENTED_STATES,
    LAST_INSTANT,
    ConsentWindow,
    counter_figures,
    counter_overage_cents,
    live_consent,
    period_cap_cents,
    storage_totals_figures,
    unbilled_units,
    usage_state,
)
from ..units import Period, day_end, period_of
from .rollups import refresh_usage_rollups

CHUNK = 1000
SNAPSHOT_FIELDS = ["used", "limit", "state", "unbilled_excess", "taken_at"]


def _levels_at(meter: Meter, account_ids: list[int], day: date) -> dict[int, int]:
    """Level (gauges, slots) or period usage (counters) at the end of ``day``."""
    moment = day_end(day)
    if meter.kind == Meter.Kind.ALLOCATION:
        held = JobSlot.objects.filter(
            account_id__in=account_ids, allocated_at__lt=moment
        ).exclude(
            # Half-open day, as for events: a change at the end moment
            # (midnight) belongs to the next day.
            Q(released_at__lt=moment)
            | Q(status=JobSlot.Status.SUSPENDED, suspended_at__lt=moment)
        )
        return dict(
            held.values("account_id")
            .annotate(n=Count("pk"))
            .values_list("account_id", "n")
        )
    events = UsageEvent.objects.filter(
        account_id__in=account_ids, meter=meter, timestamp__lt=moment
    )
    if meter.kind == Meter.Kind.COUNTER:
        events = events.filter(timestamp__gte=period_of(day).starts_at)
    # A late deletion can take the running sum of an earlier day below 0:
    # that day's level is floored at 0 (the current level never is).
    return {
        account_id: max(total, 0)
        for account_id, total in events.values("account_id")
        .annotate(total=Sum("quantity"))
        .values_list("account_id", "total")
    }


@dataclass(slots=True)
class _DayFacts:
    """What the rows of one day read, for a chunk of accounts."""

    day: date
    period: Period
    last: datetime  # the day's last instant
    allowances: dict[tuple[int, int], int]  # (plan, meter)
    granted: dict[tuple[int, int], int]  # (account, meter): live at ``last``
    folded_pairs: set[tuple[int, int]]  # counters with a top-up or consent
    consents: dict[tuple[int, int], list[ConsentWindow]]
    # The period's excess before this day, all of it and the consented part.
    prior_total: defaultdict[tuple[int, int], int]
    prior_consented: defaultdict[tuple[int, int], int]


def _day_facts(*, accounts: Sequence[Account], day: date) -> _DayFacts:
    period = period_of(day)
    last = day_end(day) - LAST_INSTANT
    ids = [a.pk for a in accounts]
    facts = _DayFacts(
        day=day,
        period=period,
        last=last,
        allowances={
            (plan_id, meter_id): amount
            for plan_id, meter_id, amount in PlanAllowance.objects.filter(
                plan_id__in={a.plan_id for a in accounts}
            ).values_list("plan_id", "meter_id", "amount")
        },
        granted={
            (row["account_id"], row["meter_id"]): row["total"]
            for row in Grant.objects.active_at(last)
            .filter(account_id__in=ids)
            .values("account_id", "meter_id")
            .annotate(total=Sum("amount"))
        },
        folded_pairs=set(
            Grant.objects.live_during(period.starts_at, period.ends_at)
            .filter(
                account_id__in=ids,
                meter__kind=Meter.Kind.COUNTER,
                effective_at__lte=last,
            )
            .values_list("account_id", "meter_id")
        ),
        consents=defaultdict(list),
        prior_total=defaultdict(int),
        prior_consented=defaultdict(int),
    )
    for (
        account_id,
        meter_id,
        given_at,
        revoked_at,
        cap,
    ) in OverageConsent.objects.filter(
        covering_consents_filter(period), account_id__in=ids, given_at__lte=last
    ).values_list("account_id", "meter_id", "given_at", "revoked_at", "cap_cents"):
        facts.consents[(account_id, meter_id)].append(
            ConsentWindow(given_at, revoked_at, cap)
        )
        facts.folded_pairs.add((account_id, meter_id))
    # A day counts as consented when its state says so. Summed here, not in
    # SQL: SQLite's integer SUM overflows where levels near 10^18 add up.
    for account_id, meter_id, used, limit, state in UsageSnapshot.objects.filter(
        account_id__in=ids,
        meter__kind=Meter.Kind.GAUGE,
        day__gte=period.start,
        day__lt=day,
        used__gt=F("limit"),
    ).values_list("account_id", "meter_id", "used", "limit", "state"):
        facts.prior_total[(account_id, meter_id)] += used - limit
        if state in CONSENTED_STATES:
            facts.prior_consented[(account_id, meter_id)] += used - limit
    return facts


@dataclass(frozen=True, slots=True)
class _DayFigures:
    limit: int
    consent: ConsentWindow | None
    accrued_cents: int = 0  # consented overage so far (the cap's measure)
    unbilled_excess: int = 0


def _counter_day(
    facts: _DayFacts, *, account: Account, meter: Meter, used: int, base: _DayFigures
) -> _DayFigures:
    """Counters with a top-up or consent in the period are folded per
    account; the rest need no fold."""
    if (account.pk, meter.pk) not in facts.folded_pairs or meter.is_hard_limit:
        return _DayFigures(
            limit=base.limit,
            consent=base.consent,
            unbilled_excess=max(used - base.limit, 0),
        )
    fold = counter_fold(
        account=account,
        meter=meter,
        period=facts.period,
        known_at=facts.last,
        until=day_end(facts.day),
        allowance=facts.allowances.get((account.plan_id, meter.pk), 0),
    )
    return _DayFigures(
        limit=fold.limit,
        consent=fold.consent,
        accrued_cents=counter_overage_cents(meter, fold.consented_excess),
        unbilled_excess=unbilled_units(
            meter, counter_figures(meter, fold), facts.period
        ),
    )


def _gauge_day(
    facts: _DayFacts, *, account: Account, meter: Meter, used: int, base: _DayFigures
) -> _DayFigures:
    """Storage reads the period's earlier days for the excess so far."""
    key = (account.pk, meter.pk)
    excess = max(used - base.limit, 0)
    figures = storage_totals_figures(
        meter,
        facts.period,
        facts.prior_total[key] + excess,
        facts.prior_consented[key] + (excess if base.consent else 0),
        period_cap_cents(facts.consents.get(key, []), day_end(facts.day)),
    )
    # The period's unbilled excess so far, in unit-months (what is priced),
    # with the cap as of this day: a raised cap makes earlier capped days
    # billable, as at close.
    return _DayFigures(
        limit=base.limit,
        consent=base.consent,
        accrued_cents=figures.consented_cents,
        unbilled_excess=int(
            unbilled_units(meter, figures, facts.period) / facts.period.days
        ),
    )


def _day_figures(
    facts: _DayFacts, *, account: Account, meter: Meter, used: int
) -> _DayFigures:
    key = (account.pk, meter.pk)
    allowance = facts.allowances.get((account.plan_id, meter.pk), 0)
    base = _DayFigures(
        limit=allowance + (facts.granted.get(key) or 0),
        consent=live_consent(facts.consents.get(key, []), facts.last),
    )
    if meter.kind == Meter.Kind.COUNTER:
        return _counter_day(facts, account=account, meter=meter, used=used, base=base)
    if meter.kind == Meter.Kind.GAUGE and not meter.is_hard_limit:
        return _gauge_day(facts, account=account, meter=meter, used=used, base=base)
    return base


def snapshot_rows(
    *, accounts: Sequence[Account], meters: Sequence[Meter], day: date, at: datetime
) -> list[UsageSnapshot]:
    """The snapshot rows of ``day`` for ``accounts``, from the facts.

    Storage reads the period's earlier snapshots for the consented excess so
    far (callers write days in order).
    """
    facts = _day_facts(accounts=accounts, day=day)
    ids = [a.pk for a in accounts]
    rows = []
    for meter in meters:
        used_by_account = _levels_at(meter, ids, day)
        for account in accounts:
            if meter.kind == Meter.Kind.ALLOCATION and account.kind != "company":
                continue
            used = used_by_account.get(account.pk, 0)
            figures = _day_figures(facts, account=account, meter=meter, used=used)
            state = usage_state(
                meter=meter,
                used=used,
                limit=figures.limit,
                consent=figures.consent,
                accrued_cents=figures.accrued_cents,
                # A staff block is not a fact with a time: history shows what
                # usage and consents made of the day.
                hard_blocked=False,
            )
            rows.append(
                UsageSnapshot(
                    account=account,
                    meter=meter,
                    day=day,
                    used=used,
                    limit=figures.limit,
                    state=state,
                    unbilled_excess=figures.unbilled_excess,
                    taken_at=at,
                )
            )
    return rows


def take_usage_snapshots(*, day: date, at: datetime | None = None) -> int:
    """Snapshot every account for a finished day; a rerun adds nothing.

    Returns the number of rows written. The day's staff rollups are refreshed
    too, so analytics never aggregate raw snapshots at request time.
    """
    at = at or timezone.now()
    if day_end(day) > at:
        raise InvalidRequest(
            f"{day} is not over yet; snapshots are taken of finished days."
        )
    meters = list(Meter.objects.all())
    created = 0
    ids = list(
        Account.objects.filter(created_at__lt=day_end(day))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), CHUNK):
        chunk_ids = ids[start : start + CHUNK]
        accounts = list(Account.objects.filter(pk__in=chunk_ids))
        done = set(
            UsageSnapshot.objects.filter(account_id__in=chunk_ids, day=day).values_list(
                "account_id", "meter_id"
            )
        )
        if len(done) >= len(accounts) * len(meters):
            continue
        todo = [a for a in accounts if any((a.pk, m.pk) not in done for m in meters)]
        rows = [
            row
            for row in snapshot_rows(accounts=todo, meters=meters, day=day, at=at)
            if (row.account.pk, row.meter.pk) not in done
        ]
        UsageSnapshot.objects.bulk_create(rows, ignore_conflicts=True)
        created += len(rows)
    refresh_usage_rollups(start=day, end=day)
    return created


def refresh_usage_snapshots(
    *,
    accounts: Sequence[Account],
    meters: Sequence[Meter],
    first_day: date,
    at: datetime,
) -> int:
    """Rewrite the existing snapshots of ``first_day`` up to yesterday from
    the facts (days not taken yet are left to ``take_usage_snapshots``).

    A late event changes every day from its own: the rows are recomputed in
    day order (storage's consented excess builds on the days before).
    """
    last_day = at.date() - timedelta(days=1)
    day, written = first_day, 0
    while day <= last_day:
        rows = snapshot_rows(accounts=accounts, meters=meters, day=day, at=at)
        existing = set(
            UsageSnapshot.objects.filter(
                account_id__in=[a.pk for a in accounts],
                meter_id__in=[m.pk for m in meters],
                day=day,
            ).values_list("account_id", "meter_id")
        )
        rows = [r for r in rows if (r.account.pk, r.meter.pk) in existing]
        if rows:
            UsageSnapshot.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["account", "meter", "day"],
                update_fields=SNAPSHOT_FIELDS,
            )
            written += len(rows)
        day += timedelta(days=1)
    return written
