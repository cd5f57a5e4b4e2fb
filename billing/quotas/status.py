"""A meter's quota status: used, limit, state and consented overage so far.

The loaders (``billing.selectors.quota_statuses`` for many accounts at once,
``billing.quotas.hot`` for one account and meter in one statement) read the
cached facts into ``MeterFacts``; ``status_of`` turns them into a
``QuotaStatus`` with the pure rules, so the API, the pages, the alerts and the
snapshots cannot disagree.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import F

from ..db import any_of
from ..errors import UnknownMeter
from ..models import Account, Meter, OverageConsent, UsageSnapshot
from ..units import Period, period_of
from .facts import counter_fold
from .rules import (
    CONSENTED_STATES,
    counter_overage_cents,
    storage_overage_cents,
    usage_state,
    used_percent,
)


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
        return used_percent(self.used, self.limit)

    @property
    def cap_cents(self) -> int | None:
        return self.consent.cap_cents if self.consent else None


@dataclass(frozen=True, slots=True)
class MeterFacts:
    """What the caches say about one (account, meter): the rules' inputs."""

    allowance: int = 0
    granted: int = 0  # sum of live grants
    consumed: int = 0  # of those, burned by counter usage
    used: int = 0  # period usage (counters), level (gauges), active slots
    covered: int = 0  # counters: part of ``used`` burned from top-ups
    consent: OverageConsent | None = None  # live and covering the period
    # Counters: uncovered units used under a live consent; gauges: unit-days
    # of excess on consented days before today (from the snapshots).
    consented_excess: Decimal = Decimal(0)


def meter_applies(*, meter: Meter, account: Account) -> bool:
    """Job slots exist only for companies; every other meter applies to all."""
    return meter.kind != Meter.Kind.ALLOCATION or account.kind == Account.Kind.COMPANY


def consent_covers(consent: OverageConsent, period: Period) -> bool:
    return consent.revoked_at is None and consent.covers(period.start)


def storage_consented_excess(
    *,
    account_ids: Sequence[int],
    period: Period,
    before: date,
    meter_id: int | None = None,
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


def folded_now(
    *, account: Account, meter: Meter, facts: MeterFacts, at: datetime
) -> MeterFacts:
    """``facts`` with the counter figures folded from the events at ``at``:
    a renewed top-up term started with no write since, so the caches do not
    have it yet."""
    fold = counter_fold(
        account=account, meter=meter, period=period_of(at), known_at=at, read_at=at
    )
    return MeterFacts(
        allowance=facts.allowance,
        granted=fold.limit - facts.allowance - fold.covered,
        consumed=0,
        used=fold.used,
        covered=fold.covered,
        consent=facts.consent,
        consented_excess=Decimal(fold.consented_excess),
    )


def _limit_and_accrued(
    meter: Meter, facts: MeterFacts, period: Period
) -> tuple[int, int]:
    """The limit, and the consented overage cost so far (what the cap is
    checked against). Where it is heading is the overage page's question
    (``quotas.projection``), not the hot paths'."""
    if meter.kind == Meter.Kind.COUNTER:
        limit = facts.allowance + facts.covered + (facts.granted - facts.consumed)
        if meter.is_hard_limit:
            return limit, 0
        return limit, counter_overage_cents(meter, int(facts.consented_excess))
    limit = facts.allowance + facts.granted
    if meter.kind != Meter.Kind.GAUGE or meter.is_hard_limit:
        return limit, 0
    current = max(facts.used - limit, 0)
    consented_today = current if facts.consent is not None else 0
    return limit, storage_overage_cents(
        meter, facts.consented_excess + consented_today, period
    )


def status_of(
    *, account: Account, meter: Meter, facts: MeterFacts, at: datetime
) -> QuotaStatus:
    """The quota arithmetic for one meter: limit, overage, state."""
    period = period_of(at)
    limit, accrued = _limit_and_accrued(meter, facts, period)
    state = usage_state(
        meter=meter,
        used=facts.used,
        limit=limit,
        consent=facts.consent,
        accrued_cents=accrued,
        hard_blocked=account.hard_blocked,
    )
    return QuotaStatus(
        meter=meter,
        period=period,
        used=facts.used,
        limit=limit,
        state=state,
        consent=facts.consent,
        accrued_cents=accrued,
        allowance=facts.allowance,
        consented_excess=facts.consented_excess,
    )


def status_from_facts(
    *,
    account: Account,
    meter: Meter,
    at: datetime,
    allowance: int,
    granted: int,
    consumed: int,
    used: int,
    covered: int,
    consented_excess: Decimal,
    consent: OverageConsent | None,
    started_term: bool,
) -> QuotaStatus:
    """The status of one meter from the row ``billing.quotas.hot`` read."""
    if not meter_applies(meter=meter, account=account):
        raise UnknownMeter(f"The {meter.code} meter does not apply to this account.")
    period = period_of(at)
    if consent is not None and not consent_covers(consent, period):
        consent = None
    if meter.kind == Meter.Kind.GAUGE and consent is not None:
        consented_excess = storage_consented_excess(
            account_ids=[account.pk], period=period, before=at.date(), meter_id=meter.pk
        ).get((account.pk, meter.pk), Decimal(0))
    elif meter.kind != Meter.Kind.COUNTER:
        consented_excess = Decimal(0)
    facts = MeterFacts(
        allowance=allowance,
        granted=granted,
        consumed=consumed,
        used=used,
        covered=covered if meter.kind == Meter.Kind.COUNTER else 0,
        consent=consent,
        consented_excess=consented_excess,
    )
    if started_term and meter.kind == Meter.Kind.COUNTER:
        facts = folded_now(account=account, meter=meter, facts=facts, at=at)
    return status_of(account=account, meter=meter, facts=facts, at=at)
