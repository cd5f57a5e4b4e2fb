"""Pure quota and overage arithmetic: no database, no clock.

Every figure is a function of facts and the instants they happened at:
usage, top-ups (grants) with their start and end, consents with the time
they were given and revoked. Loaders in ``facts`` (from the facts) and the
selectors (from the caches) both end here, so the overage page, the staff
figures and period close cannot disagree.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from ..units import WARNING_RATIO, Period, to_cents

if TYPE_CHECKING:
    from ..models import Meter


class HasCap(Protocol):
    @property
    def cap_cents(self) -> int: ...


LAST_INSTANT = timedelta(microseconds=1)


class State:
    OK = "ok"
    WARNING = "warning"
    EXCEEDED = "exceeded"
    OVERAGE = "overage"
    BLOCKED = "blocked"


CONSENTED_STATES = (State.OVERAGE, State.BLOCKED)


def used_percent(used: int, limit: int) -> float:
    """Usage as a percentage of the limit; anything used of none is 100%."""
    if limit <= 0:
        return 100.0 if used > 0 else 0.0
    return round(used * 100 / limit, 1)


def usage_state(
    *,
    meter: "Meter",
    used: int,
    limit: int,
    consent: HasCap | None,
    accrued_cents: int,
    hard_blocked: bool,
) -> str:
    """ok, warning, exceeded, overage or blocked for one meter.

    ``consent`` is the consent live at the instant judged; ``accrued_cents``
    the consented overage cost so far, which blocks once it reaches the cap.
    """
    if hard_blocked:
        return State.BLOCKED
    if used >= limit and (used > 0 or limit > 0 or meter.kind == "allocation"):
        if meter.is_hard_limit or consent is None:
            return State.EXCEEDED
        return State.BLOCKED if accrued_cents >= consent.cap_cents else State.OVERAGE
    if limit > 0 and Decimal(used) >= WARNING_RATIO * limit:
        return State.WARNING
    return State.OK


def storage_overage_cents(
    meter: "Meter", excess_unit_days: Decimal | int, period: Period
) -> int:
    """Storage overage: mean daily excess over the period x price per month."""
    return to_cents(Decimal(excess_unit_days) / period.days * meter.unit_price_cents)


def counter_overage_cents(meter: "Meter", excess_units: int) -> int:
    return to_cents(Decimal(excess_units) * meter.unit_price_cents)


@dataclass(frozen=True, slots=True)
class ConsentWindow:
    """A consent as the rules see it: live on ``[given_at, revoked_at)``.

    Only consents that cover the period in question are ever passed in; a
    consent for one period is live through that period's last instant.
    """

    given_at: datetime
    revoked_at: datetime | None
    cap_cents: int

    def live_at(self, moment: datetime) -> bool:
        return self.given_at <= moment and (
            self.revoked_at is None or moment < self.revoked_at
        )


def live_consent(
    consents: Iterable[ConsentWindow], at: datetime
) -> ConsentWindow | None:
    live = [c for c in consents if c.live_at(at)]
    return max(live, key=lambda c: c.given_at) if live else None


def period_cap_cents(consents: Iterable[ConsentWindow], until: datetime) -> int | None:
    """The cap that bills a period: the latest consent given before ``until``,
    live or revoked since (raising a cap makes capped excess billable)."""
    given = [c for c in consents if c.given_at < until]
    return max(given, key=lambda c: c.given_at).cap_cents if given else None


@dataclass(frozen=True, slots=True)
class TopUp:
    """A counter grant as the fold sees it."""

    grant_id: int
    opening: int  # balance entering the period (amount less earlier burns)
    starts_at: datetime
    ends_at: datetime | None  # expiry or revocation, the earlier
    expires_at: datetime | None  # burn order: earliest expiry first

    def live_at(self, moment: datetime) -> bool:
        return self.starts_at <= moment and (
            self.ends_at is None or moment < self.ends_at
        )

    @property
    def order(self) -> tuple:
        return (self.expires_at is None, self.expires_at or datetime.max, self.grant_id)


def counter_boundaries(
    period: Period,
    top_ups: Iterable[TopUp],
    consents: Iterable[ConsentWindow],
    extra: Iterable[datetime] = (),
) -> list[datetime]:
    """Instants where a top-up or consent starts or ends, within the period.

    Between two of them nothing but usage changes, so the fold over the
    sum of a segment's events equals the fold over the events one by one.
    """
    instants: set[datetime | None] = {period.starts_at, period.ends_at, *extra}
    for top_up in top_ups:
        instants |= {top_up.starts_at, top_up.ends_at}
    for consent in consents:
        instants |= {consent.given_at, consent.revoked_at}
    return sorted(
        t for t in instants if t is not None and period.starts_at <= t <= period.ends_at
    )


@dataclass(slots=True)
class CounterFold:
    """A counter's period, folded in event time up to ``until``."""

    used: int = 0
    covered: int = 0  # units burned from top-ups this period
    burned: dict[int, int] = field(default_factory=dict)  # grant id -> units
    consented_excess: int = 0  # uncovered units used while a consent was live
    unconsented_excess: int = 0  # uncovered units used without one
    limit: int = 0  # allowance + burned + balances live at the end
    consent: ConsentWindow | None = None  # live at the last instant
    cap_cents: int | None = None  # the period's latest consent's cap

    @property
    def excess(self) -> int:
        return self.consented_excess + self.unconsented_excess


@dataclass(slots=True)
class _CounterWalk:
    """The running balances of ``fold_counter``'s walk through a period."""

    top_ups: list[TopUp]  # in burn order
    balance: dict[int, int]  # grant id -> units left
    allowance_left: int
    burned: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    used: int = 0
    consented: int = 0
    unconsented: int = 0

    def _take(self, top_up: TopUp, wanted: int) -> int:
        take = min(wanted, self.balance[top_up.grant_id])
        if take <= 0:
            return 0
        self.balance[top_up.grant_id] -= take
        self.burned[top_up.grant_id] += take
        return take

    def cover_excess(self, starting_at: datetime) -> None:
        """Top-ups starting mid-period cover the excess so far, the consented
        part first."""
        for top_up in self.top_ups:
            if top_up.starts_at == starting_at:
                self.consented -= self._take(top_up, self.consented)
                self.unconsented -= self._take(top_up, self.unconsented)

    def use(
        self, quantity: int, at: datetime, consents: Sequence[ConsentWindow]
    ) -> None:
        """Burn the allowance, then the top-ups live at ``at``; the rest is
        excess, consented when a consent was live then."""
        self.used += quantity
        from_allowance = min(quantity, self.allowance_left)
        self.allowance_left -= from_allowance
        rest = quantity - from_allowance
        for top_up in self.top_ups:
            if rest <= 0:
                break
            if top_up.live_at(at):
                rest -= self._take(top_up, rest)
        if rest <= 0:
            return
        if live_consent(consents, at) is not None:
            self.consented += rest
        else:
            self.unconsented += rest


def fold_counter(
    *,
    period: Period,
    allowance: int,
    top_ups: Sequence[TopUp],
    consents: Sequence[ConsentWindow],
    segments: Sequence[tuple[datetime, int]],
    until: datetime | None = None,
    read_at: datetime | None = None,
) -> CounterFold:
    """Walk a counter's period in event time (``segments``: start, usage).

    Usage burns the monthly allowance, then the top-ups live at that instant
    (earliest expiry first); the rest is excess, consented when a consent
    was live. A top-up that starts inside the period first covers the
    period's excess so far, the consented part first. A top-up never covers
    usage of a period it was not live in: only what ``top_ups`` opens with.
    The limit and live consent are read at ``read_at`` (default: the last
    instant before ``until``).
    """
    until = until or period.ends_at
    ordered = sorted(top_ups, key=lambda t: t.order)
    walk = _CounterWalk(
        top_ups=ordered,
        balance={t.grant_id: t.opening for t in ordered},
        allowance_left=allowance,
    )
    for starts_at, quantity in segments:
        if starts_at >= until:
            break
        if starts_at > period.starts_at:
            walk.cover_excess(starts_at)
        walk.use(quantity, starts_at, consents)
    last = read_at or until - LAST_INSTANT
    covered = sum(walk.burned.values())
    live_balances = sum(walk.balance[t.grant_id] for t in ordered if t.live_at(last))
    return CounterFold(
        used=walk.used,
        covered=covered,
        burned={k: v for k, v in walk.burned.items() if v},
        consented_excess=walk.consented,
        unconsented_excess=walk.unconsented,
        limit=allowance + covered + live_balances,
        consent=live_consent(consents, last),
        cap_cents=period_cap_cents(consents, until),
    )


@dataclass(frozen=True, slots=True)
class GaugeDay:
    """One day of a gauge: level and limit at its last instant, and whether
    a consent was live then (a day's excess is billable only if it was)."""

    day: date
    level: int
    limit: int
    consented: bool

    @property
    def excess(self) -> int:
        return max(self.level - self.limit, 0)


@dataclass(frozen=True, slots=True)
class OverageFigures:
    """One (account, meter, period)'s overage: billable, and what is not.

    Counters count ``*_units`` in the meter's unit; storage in unit-days.
    """

    excess_units: Decimal
    consented_units: Decimal
    cost_cents: int  # all excess at the price, consented or not
    consented_cents: int  # excess used under a live consent
    cap_cents: int | None

    @property
    def billable_cents(self) -> int:
        """What close charges: consented cost, capped by the period's cap."""
        if self.cap_cents is None:
            return 0
        return min(self.consented_cents, self.cap_cents)

    def newly_billable_cents(self, cap_cents: int) -> int:
        """What a consent with ``cap_cents`` would make billable at once: the
        period's bill is the consented cost capped by its latest consent's
        cap, so raising the cap bills consented excess already used."""
        return max(min(self.consented_cents, cap_cents) - self.billable_cents, 0)

    @property
    def cap_reached(self) -> bool:
        """The consented overage already used meets the cap: new usage waits."""
        return self.cap_cents is not None and self.consented_cents >= self.cap_cents

    @property
    def beyond_cap_cents(self) -> int:
        return self.consented_cents - self.billable_cents

    @property
    def unconsented_cents(self) -> int:
        return max(self.cost_cents - self.consented_cents, 0)

    @property
    def unbilled_cents(self) -> int:
        """Never charged: excess without a consent, and consented beyond the cap."""
        return max(self.cost_cents - self.billable_cents, 0)


def counter_figures(meter: "Meter", fold: CounterFold) -> OverageFigures:
    return OverageFigures(
        excess_units=Decimal(fold.excess),
        consented_units=Decimal(fold.consented_excess),
        cost_cents=counter_overage_cents(meter, fold.excess),
        consented_cents=counter_overage_cents(meter, fold.consented_excess),
        cap_cents=fold.cap_cents,
    )


def storage_figures(
    meter: "Meter", period: Period, days: Iterable[GaugeDay], cap_cents: int | None
) -> OverageFigures:
    """Mean daily excess over the period, billable only for consented days."""
    total = consented = 0
    for day in days:
        total += day.excess
        if day.consented:
            consented += day.excess
    return storage_totals_figures(meter, period, total, consented, cap_cents)


def storage_totals_figures(
    meter: "Meter", period: Period, total: int, consented: int, cap_cents: int | None
) -> OverageFigures:
    """Storage figures from excess unit-days: all of it, and the consented."""
    return OverageFigures(
        excess_units=Decimal(total),
        consented_units=Decimal(consented),
        cost_cents=storage_overage_cents(meter, total, period),
        consented_cents=storage_overage_cents(meter, consented, period),
        cap_cents=cap_cents,
    )


def unbilled_units(meter: "Meter", figures: OverageFigures, period: Period) -> int:
    """Excess, in the meter's unit (unit-days for storage), that is not billed."""
    if meter.is_hard_limit or figures.cap_cents is None:
        return int(figures.excess_units)
    price = meter.unit_price_cents
    if price <= 0:
        return int(figures.excess_units)
    cap_units = Decimal(figures.cap_cents) / price
    if meter.kind == "gauge":
        cap_units *= period.days
    billable = min(figures.consented_units, cap_units)
    return int(figures.excess_units - billable)
