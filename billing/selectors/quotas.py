"""Quota states of many accounts at once, from the caches.

``quota_statuses`` reads plan allowances, live grants, counters, levels,
slots, consents and snapshots in a fixed number of queries for any number of
accounts, and hands each meter's facts to ``billing.quotas.status``: the
dashboards, the alert evaluation and the staff pages share it. One account
and meter (the API's hot paths) are read in one statement by
``billing.quotas.hot``; both end in the same arithmetic.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Sum
from django.utils import timezone

from ..db import any_of
from ..models import (
    Account,
    GaugeLevel,
    Grant,
    JobSlot,
    Meter,
    OverageConsent,
    PlanAllowance,
    UsageCounter,
)
from ..quotas.hot import quota_status_by_pk
from ..quotas.status import (
    MeterFacts,
    QuotaStatus,
    consent_covers,
    folded_now,
    meter_applies,
    status_of,
    storage_consented_excess,
)
from ..units import period_of
from .catalogue import all_meters

Pair = tuple[int, int]  # (account id, meter id)


@dataclass(frozen=True, slots=True)
class _Cached:
    """The cached facts of a set of accounts, keyed by (account, meter)."""

    allowances: dict[Pair, int]  # (plan, meter)
    grants: dict[Pair, tuple[int, int]]  # live: (amount, consumed)
    started_terms: set[Pair]  # counters with a renewed term not folded yet
    counters: dict[Pair, tuple[int, int, int]]  # used, covered, consented
    levels: dict[Pair, int]
    slots: dict[int, int]  # account id -> active slots
    consents: dict[Pair, OverageConsent]
    storage_days: dict[Pair, Decimal]  # consented excess unit-days so far

    def facts(self, account: Account, meter: Meter) -> MeterFacts:
        key = (account.pk, meter.pk)
        granted, consumed = self.grants.get(key, (0, 0))
        consented = self.storage_days.get(key, Decimal(0))
        used, covered = 0, 0
        if meter.kind == Meter.Kind.GAUGE:
            used = self.levels.get(key, 0)
        elif meter.kind == Meter.Kind.COUNTER:
            used, covered, units = self.counters.get(key, (0, 0, 0))
            consented = Decimal(units)
        else:
            used = self.slots.get(account.pk, 0)
        return MeterFacts(
            allowance=self.allowances.get((account.plan_id, meter.pk), 0),
            granted=granted,
            consumed=consumed,
            used=used,
            covered=covered,
            consent=self.consents.get(key),
            consented_excess=consented,
        )


def _load_cached(*, accounts: Sequence[Account], at: datetime) -> _Cached:
    """Eight queries, whatever the number of accounts. Expired and revoked
    grants are filtered by time here, so they never count whether or not the
    expiry sweep has run."""
    period = period_of(at)
    ids = [a.pk for a in accounts]
    # One array parameter, not an IN list of a thousand placeholders.
    many = any_of(ids)
    return _Cached(
        allowances={
            (plan_id, meter_id): amount
            for plan_id, meter_id, amount in PlanAllowance.objects.filter(
                plan_id__in={a.plan_id for a in accounts}
            ).values_list("plan_id", "meter_id", "amount")
        },
        grants={
            (row["account_id"], row["meter_id"]): (row["total"], row["consumed"])
            for row in Grant.objects.active_at(at)
            .filter(account_id__in=many)
            .values("account_id", "meter_id")
            .annotate(total=Sum("amount"), consumed=Sum("consumed"))
        },
        # A renewed top-up term that started in the period with no write
        # since: the caches do not have it yet, so that period is folded.
        started_terms=set(
            Grant.objects.unfolded_terms(since=period.starts_at, at=at)
            .filter(account_id__in=many, meter__kind=Meter.Kind.COUNTER)
            .values_list("account_id", "meter_id")
        ),
        counters={
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
        },
        levels={
            (account_id, meter_id): level
            for account_id, meter_id, level in GaugeLevel.objects.filter(
                account_id__in=many
            ).values_list("account_id", "meter_id", "level")
        },
        slots=dict(
            JobSlot.objects.filter(account_id__in=many, status=JobSlot.Status.ACTIVE)
            .values("account_id")
            .annotate(n=Count("pk"))
            .values_list("account_id", "n")
        ),
        consents={
            (c.account_id, c.meter_id): c
            for c in OverageConsent.objects.filter(
                account_id__in=many, revoked_at__isnull=True
            )
            if consent_covers(c, period)
        },
        storage_days=storage_consented_excess(
            account_ids=ids, period=period, before=at.date()
        ),
    )


def quota_statuses(
    *, accounts: Sequence[Account], at: datetime | None = None
) -> dict[int, list[QuotaStatus]]:
    """Used, limit, state and overage so far per meter for each account."""
    at = at or timezone.now()
    cached = _load_cached(accounts=accounts, at=at)
    meters = all_meters()
    result: dict[int, list[QuotaStatus]] = {}
    for account in accounts:
        rows = []
        for meter in meters:
            if not meter_applies(meter=meter, account=account):
                continue
            facts = cached.facts(account, meter)
            if (account.pk, meter.pk) in cached.started_terms:
                facts = folded_now(account=account, meter=meter, facts=facts, at=at)
            rows.append(status_of(account=account, meter=meter, facts=facts, at=at))
        result[account.pk] = rows
    return result


def account_quotas(
    *, account: Account, at: datetime | None = None
) -> list[QuotaStatus]:
    return quota_statuses(accounts=[account], at=at)[account.pk]


def quota_status(
    *, account: Account, meter: Meter, at: datetime | None = None
) -> QuotaStatus:
    """One meter's status without computing the others (one statement, and
    one more for a consented storage meter)."""
    return quota_status_by_pk(
        account_id=account.pk, meter_id=meter.pk, at=at or timezone.now()
    )
