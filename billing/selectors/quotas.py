"""Quota states: used, limit and state per account and meter, set-based.

``quota_statuses`` is the one place that turns plan allowances, live grants,
counters, levels, consents and snapshots into used / limit / state, in a
fixed number of queries for any number of accounts: the API, the dashboards,
the alert evaluation and the snapshot command all share it.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Count, F, Subquery, Sum
from django.utils import timezone

from ..errors import UnknownMeter
from ..models import (
    Account,
    GaugeLevel,
    Grant,
    JobSlot,
    Meter,
    OverageConsent,
    PlanAllowance,
    UsageCounter,
    UsageSnapshot,
)
from ..quotas.facts import counter_fold
from ..quotas.rules import (
    CONSENTED_STATES,
    counter_overage_cents,
    storage_overage_cents,
    usage_state,
)
from ..units import Period, period_of
from .catalogue import _meters, meter_applies
from .sql import any_of


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    meter: Meter
    period: Period
    used: int
    limit: int
    state: str
    consent: OverageConsent | None
    accrued_cents: int  # consented overage cost so far this period
    # Inputs kept for authorize's "what if" arithmetic.
    allowance: int
    # Excess used under a live consent so far: counter units, or storage
    # unit-days before today.
    consented_excess: Decimal

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def excess(self) -> int:
        return max(self.used - self.limit, 0)

    @property
    def percent(self) -> float:
        if self.limit <= 0:
            return 100.0 if self.used > 0 else 0.0
        return round(self.used * 100 / self.limit, 1)

    @property
    def cap_cents(self) -> int | None:
        return self.consent.cap_cents if self.consent else None


def consent_covers(consent: OverageConsent, period: Period) -> bool:
    return consent.revoked_at is None and consent.covers(period.start)


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the database says about one (account, meter): the rules' inputs."""

    allowance: int = 0
    granted: int = 0  # sum of live grants
    consumed: int = 0  # of those, burned by counter usage
    used: int = 0  # period usage (counters), level (gauges), active slots
    covered: int = 0  # counters: part of ``used`` burned from top-ups
    consent: OverageConsent | None = None  # live and covering the period
    # Counters: uncovered units used under a live consent; gauges: unit-days
    # of excess on consented days before today (from the snapshots).
    consented_excess: Decimal = Decimal(0)


def _storage_consented_excess(
    *, account_ids: Sequence[int], period: Period, before: date, meter_id=None
) -> dict[tuple[int, int], Decimal]:
    """Excess unit-days of the period's consented days before ``before``.

    A day counts when a consent was live at its last instant, which the
    snapshot's state records. Summed in Python: SQLite's integer SUM
    overflows where levels near 10^18 add up.
    """
    rows = UsageSnapshot.objects.filter(
        account_id__in=any_of(account_ids),
        meter__kind=Meter.Kind.GAUGE,
        day__gte=period.start,
        day__lt=before,
        state__in=CONSENTED_STATES,
        used__gt=F("limit"),
    )
    if meter_id is not None:
        rows = rows.filter(meter_id=meter_id)
    totals: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for account_id, row_meter_id, used, limit in rows.values_list(
        "account_id", "meter_id", "used", "limit"
    ):
        totals[(account_id, row_meter_id)] += used - limit
    return totals


def _folded_now(
    *, account: Account, meter: Meter, facts: "_Facts", at: datetime
) -> "_Facts":
    """``facts`` with the counter figures folded from the events at ``at``."""
    fold = counter_fold(
        account=account, meter=meter, period=period_of(at), known_at=at, read_at=at
    )
    return _Facts(
        allowance=facts.allowance,
        granted=fold.limit - facts.allowance - fold.covered,
        consumed=0,
        used=fold.used,
        covered=fold.covered,
        consent=facts.consent,
        consented_excess=Decimal(fold.consented_excess),
    )


def _quota_status(
    *, account: Account, meter: Meter, facts: _Facts, at: datetime
) -> QuotaStatus:
    """The quota arithmetic for one meter: limit, overage, state.

    Every reader of limits and states (all meters or one) goes through here,
    so the rules exist once whatever way the facts were loaded.
    """
    period = period_of(at)
    accrued = 0
    used = facts.used
    # ``accrued``: the consented overage cost so far (what the cap is
    # checked against). Where it is heading is the overage page's question
    # (``quotas.projection``), not the hot paths'.
    if meter.kind == Meter.Kind.GAUGE:
        limit = facts.allowance + facts.granted
        current = max(used - limit, 0)
        if not meter.is_hard_limit:
            consented_today = current if facts.consent is not None else 0
            accrued = storage_overage_cents(
                meter, facts.consented_excess + consented_today, period
            )
    elif meter.kind == Meter.Kind.COUNTER:
        limit = facts.allowance + facts.covered + (facts.granted - facts.consumed)
        if not meter.is_hard_limit:
            accrued = counter_overage_cents(meter, int(facts.consented_excess))
    else:
        limit = facts.allowance + facts.granted
    state = usage_state(
        meter=meter,
        used=used,
        limit=limit,
        consent=facts.consent,
        accrued_cents=accrued,
        hard_blocked=account.hard_blocked,
    )
    return QuotaStatus(
        meter=meter,
        period=period,
        used=used,
        limit=limit,
        state=state,
        consent=facts.consent,
        accrued_cents=accrued,
        allowance=facts.allowance,
        consented_excess=facts.consented_excess,
    )


def quota_statuses(
    *, accounts: Sequence[Account], at: datetime | None = None
) -> dict[int, list[QuotaStatus]]:
    """Used, limit, state and overage estimate per meter for each account.

    Expired and revoked grants are filtered by time here, so they never count
    whether or not the expiry sweep has run. Eight queries, whatever the
    number of accounts.
    """
    at = at or timezone.now()
    period = period_of(at)
    ids = [a.pk for a in accounts]
    # One array parameter, not an IN list of a thousand placeholders.
    many = any_of(ids)
    meters = _meters()

    allowances = {
        (plan_id, meter_id): amount
        for plan_id, meter_id, amount in PlanAllowance.objects.filter(
            plan_id__in={a.plan_id for a in accounts}
        ).values_list("plan_id", "meter_id", "amount")
    }
    grants = {
        (row["account_id"], row["meter_id"]): (row["total"], row["consumed"])
        for row in Grant.objects.active_at(at)
        .filter(account_id__in=many)
        .values("account_id", "meter_id")
        .annotate(total=Sum("amount"), consumed=Sum("consumed"))
    }
    # A renewed top-up term that started in the period with no write since:
    # the caches do not have it yet, so that period is folded here.
    started_terms = set(
        Grant.objects.unfolded_terms(since=period.starts_at, at=at)
        .filter(account_id__in=many, meter__kind=Meter.Kind.COUNTER)
        .values_list("account_id", "meter_id")
    )
    counters = {
        (account_id, meter_id): (used, covered, consented)
        for account_id, meter_id, used, covered, consented in (
            UsageCounter.objects.filter(
                account_id__in=many, period_start=period.start
            ).values_list(
                "account_id",
                "meter_id",
                "used",
                "covered_by_grants",
                "consented_excess",
            )
        )
    }
    levels = {
        (account_id, meter_id): level
        for account_id, meter_id, level in GaugeLevel.objects.filter(
            account_id__in=many
        ).values_list("account_id", "meter_id", "level")
    }
    slots = dict(
        JobSlot.objects.filter(account_id__in=many, status=JobSlot.Status.ACTIVE)
        .values("account_id")
        .annotate(n=Count("pk"))
        .values_list("account_id", "n")
    )
    consents = {
        (c.account_id, c.meter_id): c
        for c in OverageConsent.objects.filter(
            account_id__in=many, revoked_at__isnull=True
        )
        if consent_covers(c, period)
    }
    storage_days = _storage_consented_excess(
        account_ids=ids, period=period, before=at.date()
    )

    result: dict[int, list[QuotaStatus]] = {}
    for account in accounts:
        rows = []
        for meter in meters:
            if not meter_applies(meter=meter, account=account):
                continue
            key = (account.pk, meter.pk)
            granted, consumed = grants.get(key, (0, 0))
            consented = storage_days.get(key, Decimal(0))
            if meter.kind == Meter.Kind.GAUGE:
                used, covered = levels.get(key, 0), 0
            elif meter.kind == Meter.Kind.COUNTER:
                used, covered, units = counters.get(key, (0, 0, 0))
                consented = Decimal(units)
            else:
                used, covered = slots.get(account.pk, 0), 0
            facts = _Facts(
                allowance=allowances.get((account.plan_id, meter.pk), 0),
                granted=granted,
                consumed=consumed,
                used=used,
                covered=covered,
                consent=consents.get(key),
                consented_excess=consented,
            )
            if key in started_terms:
                facts = _folded_now(account=account, meter=meter, facts=facts, at=at)
            rows.append(_quota_status(account=account, meter=meter, facts=facts, at=at))
        result[account.pk] = rows
    return result


def account_quotas(
    *, account: Account, at: datetime | None = None
) -> list[QuotaStatus]:
    return quota_statuses(accounts=[account], at=at)[account.pk]


def _meter_facts(*, account: Account, meter: Meter, at: datetime) -> _Facts:
    """The facts of one (account, meter) in one query of scalar subqueries.

    Loads only what the meter's kind needs; the same filters as
    ``quota_statuses`` (live grants, this period's counter, snapshots before
    today). A live consent is read by a second query only when one exists.
    """
    period = period_of(at)
    mine = {"account_id": account.pk, "meter_id": meter.pk}
    grants = Grant.objects.active_at(at).filter(**mine).order_by().values("meter_id")
    columns = {
        "allowance": Subquery(
            PlanAllowance.objects.filter(
                plan_id=account.plan_id, meter_id=meter.pk
            ).values("amount")[:1]
        ),
        "granted": Subquery(grants.annotate(t=Sum("amount")).values("t")),
        "consumed": Subquery(grants.annotate(t=Sum("consumed")).values("t")),
        "consent_id": Subquery(
            OverageConsent.objects.filter(**mine, revoked_at__isnull=True)
            .order_by()
            .values("pk")[:1]
        ),
    }
    if meter.kind == Meter.Kind.COUNTER:
        counter = UsageCounter.objects.filter(**mine, period_start=period.start)
        columns["used"] = Subquery(counter.values("used")[:1])
        columns["covered"] = Subquery(counter.values("covered_by_grants")[:1])
        columns["consented"] = Subquery(counter.values("consented_excess")[:1])
        columns["started_term"] = Subquery(
            Grant.objects.unfolded_terms(since=period.starts_at, at=at)
            .filter(**mine)
            .values("pk")[:1]
        )
    elif meter.kind == Meter.Kind.GAUGE:
        columns["used"] = Subquery(
            GaugeLevel.objects.filter(**mine).values("level")[:1]
        )
    else:
        columns["used"] = Subquery(
            JobSlot.objects.filter(account_id=account.pk, status=JobSlot.Status.ACTIVE)
            .order_by()
            .values("account_id")
            .annotate(n=Count("pk"))
            .values("n")
        )
    row = Meter.objects.filter(pk=meter.pk).values(**columns).get()
    consent = None
    if row["consent_id"] is not None:
        live = OverageConsent.objects.get(pk=row["consent_id"])
        consent = live if consent_covers(live, period) else None
    consented = Decimal(row.get("consented") or 0)
    if meter.kind == Meter.Kind.GAUGE and consent is not None:
        # Only a live consent makes the consented days so far matter here.
        consented = _storage_consented_excess(
            account_ids=[account.pk], period=period, before=at.date(), meter_id=meter.pk
        ).get((account.pk, meter.pk), Decimal(0))
    facts = _Facts(
        allowance=row["allowance"] or 0,
        granted=row["granted"] or 0,
        consumed=row["consumed"] or 0,
        used=row["used"] or 0,
        covered=row.get("covered") or 0,
        consent=consent,
        consented_excess=consented,
    )
    if row.get("started_term") is not None:
        facts = _folded_now(account=account, meter=meter, facts=facts, at=at)
    return facts


def quota_status(
    *, account: Account, meter: Meter, at: datetime | None = None
) -> QuotaStatus:
    """One meter's status without computing the others (one or two queries)."""
    if not meter_applies(meter=meter, account=account):
        raise UnknownMeter(f"The {meter.code} meter does not apply to this account.")
    at = at or timezone.now()
    facts = _meter_facts(account=account, meter=meter, at=at)
    return _quota_status(account=account, meter=meter, facts=facts, at=at)
