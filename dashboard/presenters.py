"""Display strings for the dashboard's cards.

Every number, state and next step comes from billing selectors; this module
only words them for people.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.urls import reverse

from billing.analytics import DateRange, MeterUsage, UsageReport
from billing.models import Account, Meter, Pack, Purchase
from billing.quotas.current import LimitPart
from billing.selectors import (
    QuotaStatus,
    SentReminder,
    State,
    UsageSeries,
    expires_soon,
    pack_counterparts,
    purchase_state,
    renewal_refusal,
    renewal_terms,
)
from billing.selectors.pages import NextStep, quota_next_steps
from billing.units import display_amount, display_unit, format_cents, format_quantity


@dataclass(frozen=True, slots=True)
class Action:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class QuotaCard:
    code: str
    name: str
    state: str
    state_label: str  # what the badge says: "full" for a hard limit in use
    used: str
    limit: str
    remaining: str
    percent: float
    bar: float
    resets_on: date | None  # counters reset with the period; gauges do not
    why: str
    actions: list[Action]
    # Where the limit comes from, in the order usage consumes it (only
    # worth listing when a pack adds to the plan).
    parts: list[dict[str, Any]] = field(default_factory=list)


# Job slots are a hard limit: at the limit they are simply "full", on every
# page (the API's state stays "exceeded", as documented).
FULL = "full"
SLOTS_FULL_ADVICE = (
    "Every job slot is in use: new postings are refused. Close a posting on "
    "the jobs site to free its slot (it is released here at once), or buy a "
    "slot pack."
)


def state_label(status: QuotaStatus) -> str:
    if status.meter.kind == Meter.Kind.ALLOCATION and status.state == State.EXCEEDED:
        return FULL
    return status.state


def money(cents: int) -> str:
    return format_cents(cents, settings.BILLING_CURRENCY)


def _why(status: QuotaStatus, account: Account) -> str:
    meter = status.meter
    if account.hard_blocked:
        return "Blocked by staff: new usage is refused. Contact support to lift it."
    if status.state == State.BLOCKED:
        return (
            f"Your overage cap of {money(status.cap_cents or 0)} is reached: new "
            "usage is refused. Raise the cap or buy a pack."
        )
    if status.state == State.OVERAGE:
        return (
            f"Over the limit with your consent: {money(status.accrued_cents)} so far, "
            f"billed at period close, never more than your cap of "
            f"{money(status.cap_cents or 0)}."
        )
    if status.state == State.EXCEEDED:
        if meter.kind == Meter.Kind.ALLOCATION:
            return SLOTS_FULL_ADVICE
        if meter.is_hard_limit:
            return "Limit reached: new usage is refused until you buy a pack."
        return (
            "Limit reached: uploads and new usage are paused until you buy a pack "
            "or confirm overage."
        )
    if status.state == State.WARNING:
        return "Over 80% used. A pack now keeps you clear of the limit."
    return "Within your limit."


# How each next step is worded on a quota card.
_STEP_LABELS = {
    NextStep.BUY_JOB_SLOTS: "Buy job slots",
    NextStep.BUY_PACK: "Buy a pack",
    NextStep.CONFIRM_OVERAGE: "Confirm overage",
    NextStep.REVIEW_OVERAGE: "Review overage",
}


def _step_url(step: NextStep, status: QuotaStatus, account: Account) -> str:
    code = status.meter.code
    if step == NextStep.BUY_JOB_SLOTS:
        return reverse("dashboard:company-job-slots", args=[account.pk])
    if step == NextStep.BUY_PACK:
        return reverse("dashboard:user-packs", args=[account.pk]) + f"?meter={code}"
    return reverse("dashboard:user-overage", args=[account.pk]) + f"#meter-{code}"


def _actions(status: QuotaStatus, account: Account) -> list[Action]:
    """The card's buttons: the next steps ``quota_next_steps`` offers, worded."""
    return [
        Action(_STEP_LABELS[step], _step_url(step, status, account))
        for step in quota_next_steps(status=status, account=account)
    ]


def quota_card(
    status: QuotaStatus, *, account: Account, parts: Sequence[LimitPart] = ()
) -> QuotaCard:
    unit = status.meter.unit
    resets_on = status.period.end if status.meter.kind == Meter.Kind.COUNTER else None
    return QuotaCard(
        code=status.meter.code,
        name=status.meter.name,
        state=status.state,
        state_label=state_label(status),
        used=format_quantity(status.used, unit),
        limit=format_quantity(status.limit, unit),
        remaining=format_quantity(status.remaining, unit),
        percent=status.percent,
        bar=min(status.percent, 100.0),
        resets_on=resets_on,
        why=_why(status, account),
        actions=_actions(status, account),
        parts=[
            {
                "label": part.label,
                "amount": format_quantity(part.amount, unit),
                "left": None if part.left is None else format_quantity(part.left, unit),
                "ends_at": part.ends_at,
                "resets_on": part.resets_on,
                "top_up": part.top_up,
            }
            for part in parts
        ]
        if len(parts) > 1
        else [],
    )


def price_line(meter: Meter) -> str:
    """'$0.09 per GB' from the meter's price of one quantum."""
    if meter.overage_price_cents is None:
        return "Not sold: a hard limit"
    return f"{money(meter.overage_price_cents)} per {meter.quantum_label}"


def period_last_day(status: QuotaStatus) -> date:
    return status.period.end - timedelta(days=1)


# The last point of a history chart: today's live figure, not a snapshot.
TODAY_SO_FAR = "Today, so far"


def chart_series(series: UsageSeries) -> dict[str, Any]:
    """One meter's history for Chart.js (via json_script) and for its table."""
    meter = series.meter
    unit = meter.unit
    return {
        "code": meter.code,
        "series_id": f"series-{meter.code}",
        "title": meter.name,
        "unit": display_unit(unit),
        "empty": not series.points,
        "data": {
            "title": meter.name,
            "unit": display_unit(unit),
            "type": "line" if meter.kind != Meter.Kind.COUNTER else "bar",
            "labels": [
                TODAY_SO_FAR if p.live else p.day.isoformat() for p in series.points
            ],
            "used": [display_amount(p.used, unit) for p in series.points],
            "limit": [display_amount(p.limit, unit) for p in series.points],
            "today": bool(series.points) and series.points[-1].live,
        },
        "rows": [
            {
                "day": p.day,
                "live": p.live,
                "used": format_quantity(p.used, unit),
                "limit": format_quantity(p.limit, unit),
                "state": p.state,
            }
            for p in reversed(series.points)
        ],
    }


def pack_lines(pack: Pack) -> list[str]:
    """'+50.0 GB storage' for each meter the pack covers (allowances prefetched)."""
    return [adds_line(line.amount, line.meter) for line in pack.allowances.all()]


def adds_line(amount: int, meter: Meter) -> str:
    """'+50.0 GB storage', '+5 job slots': what a pack line or grant adds."""
    if meter.unit == Meter.Unit.SLOT:
        return f"+{amount} job slot{'s' if amount != 1 else ''}"
    return f"+{format_quantity(amount, meter.unit)} {meter.name.lower()}"


@dataclass(frozen=True, slots=True)
class PackCard:
    """A pack on sale as a buyer reads it: what it adds, what its kind means
    and how its price compares with the same pack in the other kind."""

    pack: Pack
    lines: list[str]
    price_for: str  # "per 365-day term" / "for 365 days"
    explanation: str
    compared: str  # "" when the pack is sold in one kind only


def _day_count(days: int) -> str:
    return f"{days} day{'s' if days != 1 else ''}"


def _joined(items: list[str]) -> str:
    return " and ".join([", ".join(items[:-1]), items[-1]] if len(items) > 1 else items)


def reminders_phrase() -> str:
    """When expiry reminders go out, e.g. "7 days and 1 day", worded from the
    rule the reminder task follows."""
    return _joined([_day_count(d) for d in renewal_terms().reminder_days])


def _pack_explanation(pack: Pack) -> str:
    term = f"{pack.term_days}-day term"
    if not pack.is_subscription:
        return (
            f"A single {term}, then it is gone: no reminders, no renewal. "
            "Buy it again later if you need it."
        )
    rules = renewal_terms()
    window = _day_count(rules.window_days)
    when = (
        f"any time until {window} after it ends"  # open from the term's start
        if rules.window_days >= pack.term_days
        else f"from {window} before it ends until {window} after"
    )
    renew = f"renew it yourself, after a confirmation page, {when}"
    if rules.reminder_days:
        reminders = _joined([_day_count(d) for d in rules.reminder_days])
        renew = f"We remind you {reminders} before it ends; {renew}"
    return (
        f"A renewable {term}. {renew[0].upper()}{renew[1:]}. Renewing early adds "
        "the new term after the current one: no gap, no automatic charge."
    )


def _price_compared(pack: Pack, other: Pack | None) -> str:
    if other is None:
        return ""
    gap = money(abs(pack.price_cents - other.price_cents))
    sub_cheaper = (pack.price_cents < other.price_cents) == pack.is_subscription
    if pack.price_cents == other.price_cents:
        if pack.is_subscription:
            return "Same price as the one-time pack: reminders and renewal come free."
        return "Same price as the subscription, which adds reminders and renewal."
    if pack.is_subscription:
        if sub_cheaper:
            return f"{gap} less per term than the one-time pack: a reward for renewing."
        return f"{gap} more per term than the one-time pack, for reminders and renewal."
    if sub_cheaper:
        return (
            f"The subscription costs {gap} less per term and never charges by itself."
        )
    return f"{gap} less than the subscription, which adds reminders and renewal."


def pack_cards(packs: list[Pack]) -> list[PackCard]:
    """The catalogue's cards; allowances prefetched (no query per card)."""
    others = pack_counterparts(packs=packs)
    return [
        PackCard(
            pack=pack,
            lines=pack_lines(pack),
            price_for=(
                f"per {pack.term_days}-day term"
                if pack.is_subscription
                else f"for {pack.term_days} days"
            ),
            explanation=_pack_explanation(pack),
            compared=_price_compared(pack, others.get(pack.pk)),
        )
        for pack in packs
    ]


@dataclass(frozen=True, slots=True)
class PurchaseRow:
    purchase: Purchase
    status: str  # active, upcoming, expired, refunded
    lines: list[str]
    renewed_until: datetime | None
    refusal: str | None  # why it cannot be renewed; None when it can
    reminders: list[SentReminder]  # expiry reminders already sent


@dataclass(frozen=True, slots=True)
class ActivePackLine:
    purchase: Purchase
    expires_soon: bool  # inside the reminder window
    days_left: int


def active_pack_line(purchase: Purchase, *, at: datetime) -> ActivePackLine:
    left = purchase.expires_at - at
    return ActivePackLine(
        purchase=purchase,
        expires_soon=expires_soon(purchase=purchase, at=at),
        days_left=max(1, -(-left // timedelta(days=1))),  # rounded up
    )


def purchase_row(
    purchase: Purchase, *, at: datetime, reminders: list[SentReminder] | None = None
) -> PurchaseRow:
    status = purchase_state(purchase=purchase, at=at)
    renewals = [
        r for r in purchase.renewals.all() if r.status == Purchase.Status.COMPLETED
    ]
    return PurchaseRow(
        purchase=purchase,
        status=status,
        lines=pack_lines(purchase.pack),
        renewed_until=max((r.expires_at for r in renewals), default=None),
        refusal=renewal_refusal(purchase=purchase, at=at),
        reminders=reminders or [],
    )


# Staff analytics --------------------------------------------------------

BANDS = [
    ("under_50", "< 50%"),
    ("from_50_to_80", "50-80%"),
    ("from_80_to_100", "80-100%"),
    ("over_with_consent", "Over, with consent"),
    ("over_without_consent", "Over, no consent"),
]
BAND_FIELDS = [field for field, _ in BANDS]


def chart_spec(chart_type: str, labels: list, datasets: list[dict], **extra) -> dict:
    """A Chart.js chart for ``json_script``; static/js/charts.js draws it."""
    return {"type": chart_type, "labels": labels, "datasets": datasets, **extra}


def _day(day: date) -> str:
    return f"{day.day} {day:%b}"


def _days(days: DateRange) -> str:
    if days.start == days.end:
        return _day(days.start)
    return f"{_day(days.start)} – {_day(days.end)}"


def staff_usage_coverage(report: UsageReport) -> str:
    """What the usage figures are based on: which days come from the daily
    snapshots, which have none yet, and today so far from the live counters."""
    if report.snapshots_to is not None:
        parts = [f"Days to {_day(report.snapshots_to)} from the daily snapshots"]
    else:
        parts = ["No daily snapshots in this range"]
    if report.missing is not None:
        parts.append(f"no snapshot taken yet for {_days(report.missing)}")
    if report.today is not None:
        at = report.at.astimezone(UTC)
        parts.append(
            f"today ({_day(report.today)}) so far from the live counters and "
            f"storage levels, as of {at:%H:%M} UTC"
        )
    return "; ".join(parts) + "."


def staff_usage_card(usage: MeterUsage) -> dict[str, Any]:
    """One meter's usage patterns in display units: chart, bands, top, days.

    The bands and top consumers describe ``usage.latest`` (today when the
    range holds it); the unbilled excess, which only snapshots carry, the
    last snapshot day.
    """
    unit = usage.meter.unit
    shown = display_unit(unit)
    latest, snapshot, rows = usage.latest, usage.last_snapshot, usage.rows

    def unbilled(amount) -> str:
        if amount is None:  # no snapshot: today, or none in the range
            return "—"
        # Storage's unbilled excess is priced, and kept, in GB-months.
        text = format_quantity(amount, unit)
        return f"{text}-month" if usage.meter.kind == "gauge" else text

    def chart_label(row) -> str:
        day = row.day.isoformat()
        return f"{day} (so far)" if row is usage.today else day

    return {
        "usage": usage,
        "unit": shown,
        "has_days": bool(rows),
        "live": usage.today is not None,
        "latest_day": latest.day if latest else None,
        "snapshot_day": snapshot.day if snapshot else None,
        "chart_id": f"usage-data-{usage.meter.code}",
        "chart": chart_spec(
            "line",
            [chart_label(r) for r in rows],
            [
                {
                    "label": f"Total used ({shown})",
                    "data": [display_amount(int(r.total_used), unit) for r in rows],
                }
            ],
            unit=shown,
        ),
        "bands": [
            (label, getattr(latest, field) if latest else 0) for field, label in BANDS
        ],
        "unbilled": unbilled(snapshot.unbilled_excess if snapshot else None),
        "top": [
            {
                "account": t.account,
                "used": format_quantity(t.used, unit),
                "limit": format_quantity(t.limit, unit),
                "state": t.state,
            }
            for t in usage.top
        ],
        "days": [
            {
                "day": r.day,
                "live": r is usage.today,
                "accounts": r.accounts,
                "total": format_quantity(int(r.total_used), unit),
                "unbilled": unbilled(r.unbilled_excess),
            }
            for r in reversed(rows)
        ],
    }
