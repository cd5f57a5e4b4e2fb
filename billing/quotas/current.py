"""The running period's overage from the caches, for pages and staff.

The same rules as period close (``rules``), fed from the counters and the
daily snapshots instead of the raw events, plus today's live level.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import F, Sum

from ..models import (
    Account,
    GaugeLevel,
    Grant,
    Meter,
    OverageConsent,
    PlanAllowance,
    UsageCounter,
    UsageSnapshot,
)
from ..units import period_of
from .facts import counter_fold, covering_consents_filter
from .rules import (
    CONSENTED_STATES,
    ConsentWindow,
    GaugeDay,
    OverageFigures,
    counter_figures,
    counter_overage_cents,
    live_consent,
    period_cap_cents,
    storage_figures,
)


def period_overages(
    *, account: Account, meters: Sequence[Meter], at: datetime
) -> dict[int, OverageFigures]:
    """Billable, beyond-cap and unconsented overage so far, per priced meter.

    Seven queries for every meter together. A renewed top-up term that
    started during the period is folded from the events, since no write has
    folded its start into the caches yet.
    """
    period = period_of(at)
    meters = [m for m in meters if not m.is_hard_limit]
    ids = [m.pk for m in meters]
    consents: dict[int, list[ConsentWindow]] = defaultdict(list)
    for meter_id, given_at, revoked_at, cap_cents in OverageConsent.objects.filter(
        covering_consents_filter(period),
        account=account,
        meter_id__in=ids,
        given_at__lte=at,
    ).values_list("meter_id", "given_at", "revoked_at", "cap_cents"):
        consents[meter_id].append(ConsentWindow(given_at, revoked_at, cap_cents))
    allowances = dict(
        PlanAllowance.objects.filter(
            plan_id=account.plan_id, meter_id__in=ids
        ).values_list("meter_id", "amount")
    )
    counters = {
        c.meter_id: c
        for c in UsageCounter.objects.filter(
            account=account, meter_id__in=ids, period_start=period.start
        )
    }
    live = Grant.objects.active_at(at).filter(account=account, meter_id__in=ids)
    granted = dict(
        live.values("meter_id").annotate(t=Sum("amount")).values_list("meter_id", "t")
    )
    started = set(
        Grant.objects.unfolded_terms(since=period.starts_at, at=at)
        .filter(account=account, meter_id__in=ids)
        .values_list("meter_id", flat=True)
    )
    levels = dict(
        GaugeLevel.objects.filter(account=account, meter_id__in=ids).values_list(
            "meter_id", "level"
        )
    )
    days: dict[int, list[GaugeDay]] = defaultdict(list)
    for meter_id, day, used, limit, state in UsageSnapshot.objects.filter(
        account=account,
        meter_id__in=ids,
        meter__kind=Meter.Kind.GAUGE,
        day__gte=period.start,
        day__lt=at.date(),
    ).values_list("meter_id", "day", "used", "limit", "state"):
        days[meter_id].append(GaugeDay(day, used, limit, state in CONSENTED_STATES))

    result = {}
    for meter in meters:
        allowance = allowances.get(meter.pk, 0)
        cap = period_cap_cents(consents[meter.pk], at + timedelta(microseconds=1))
        if meter.kind == Meter.Kind.COUNTER and meter.pk in started:
            fold = counter_fold(
                account=account,
                meter=meter,
                period=period,
                known_at=at,
                allowance=allowance,
            )
            result[meter.pk] = counter_figures(meter, fold)
        elif meter.kind == Meter.Kind.COUNTER:
            result[meter.pk] = _cached_counter_figures(
                meter, counters.get(meter.pk), allowance=allowance, cap_cents=cap
            )
        else:
            today = GaugeDay(
                at.date(),
                levels.get(meter.pk, 0),
                allowance + (granted.get(meter.pk) or 0),
                live_consent(consents[meter.pk], at) is not None,
            )
            result[meter.pk] = storage_figures(
                meter, period, [*days[meter.pk], today], cap
            )
    return result


def _cached_counter_figures(
    meter: Meter, counter: UsageCounter | None, *, allowance: int, cap_cents: int | None
) -> OverageFigures:
    """A counter's figures from its cache row (no renewed term to fold)."""
    excess = consented = 0
    if counter is not None:
        excess = max(counter.used - allowance, 0) - counter.covered_by_grants
        consented = counter.consented_excess
    return OverageFigures(
        excess_units=Decimal(excess),
        consented_units=Decimal(consented),
        cost_cents=counter_overage_cents(meter, excess),
        consented_cents=counter_overage_cents(meter, consented),
        cap_cents=cap_cents,
    )


def newly_billable_cents(
    *, account: Account, meter: Meter, cap_cents: int, at: datetime
) -> int:
    """Overage already used this period that a consent capped at
    ``cap_cents`` would make billable now (0 for a first consent)."""
    return period_overage(account=account, meter=meter, at=at).newly_billable_cents(
        cap_cents
    )


def period_overage(*, account: Account, meter: Meter, at: datetime) -> OverageFigures:
    """One meter's overage so far (see ``period_overages``)."""
    return period_overages(account=account, meters=[meter], at=at)[meter.pk]


@dataclass(frozen=True, slots=True)
class LimitPart:
    """One source of a limit, as the customer should read it.

    A counter's limit is its monthly allowance (reset each period) and then
    its top-ups (balances that outlive the month until they expire), burned
    in that order: allowance, then top-ups by earliest expiry. A gauge's is
    its plan's capacity plus each pack's while the pack lasts.
    """

    label: str
    amount: int
    left: int | None  # counters: what is left of this part now
    ends_at: datetime | None  # a grant's expiry (None: no end)
    resets_on: date | None = None  # the monthly allowance's next reset
    top_up: bool = False


def limit_parts(
    *, account: Account, statuses: Sequence, at: datetime
) -> dict[int, list[LimitPart]]:
    """The parts of each meter's limit (``QuotaStatus`` list) in the order
    usage consumes them, by meter id: one query for the live grants."""
    grants = (
        Grant.objects.active_at(at)
        .filter(account=account)
        .select_related("purchase__pack")
        .order_by(F("expires_at").asc(nulls_last=True), "pk")
    )
    by_meter: dict[int, list[Grant]] = defaultdict(list)
    for grant in grants:
        by_meter[grant.meter_id].append(grant)
    parts: dict[int, list[LimitPart]] = {}
    for status in statuses:
        meter = status.meter
        live = by_meter.get(meter.pk, [])
        if meter.kind == Meter.Kind.COUNTER:
            allowance_left = max(status.allowance - status.used, 0)
            parts[meter.pk] = [
                LimitPart(
                    label="Monthly allowance",
                    amount=status.allowance,
                    left=allowance_left,
                    ends_at=None,
                    resets_on=status.period.end,
                ),
                *(
                    LimitPart(
                        label=grant.label,
                        amount=grant.amount,
                        left=grant.balance,
                        ends_at=grant.expires_at,
                        top_up=True,
                    )
                    for grant in live
                ),
            ]
        else:
            parts[meter.pk] = [
                LimitPart(
                    label="Your plan", amount=status.allowance, left=None, ends_at=None
                ),
                *(
                    LimitPart(
                        label=grant.label,
                        amount=grant.amount,
                        left=None,
                        ends_at=grant.expires_at,
                    )
                    for grant in live
                ),
            ]
    return parts
