"""Reads: limits, states, overage estimates, balances, listings.

``quota_statuses`` is the one place that turns plan allowances, live grants,
counters, levels, consents and snapshots into used / limit / state. It is
set-based (a fixed number of queries for any number of accounts) so the API,
the dashboards, the alert evaluation and the snapshot command all share it.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_countries import countries

from accounts.models import Membership

from .documents import ChargeQuote, LineIn, pack_line, quote_charge
from .errors import NotFound, UnknownAccount, UnknownMeter
from .models import (
    Account,
    Alert,
    ApiKey,
    ChargeRecord,
    GaugeLevel,
    Grant,
    JobSlot,
    Meter,
    OverageConsent,
    Pack,
    PlanAllowance,
    Purchase,
    UsageCounter,
    UsageSnapshot,
)
from .quotas.facts import counter_fold, period_overage_from_facts
from .quotas.rules import (
    CONSENTED_STATES,
    State,
    counter_overage_cents,
    storage_overage_cents,
    usage_state,
)
from .units import Period, format_percent, period_of

__all__ = [
    "State",
    "counter_overage_cents",
    "storage_overage_cents",
    "usage_state",
]


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


def _meters() -> list[Meter]:
    return list(Meter.objects.all())


def get_meter(*, code: str) -> Meter:
    try:
        return Meter.objects.get(code=code)
    except Meter.DoesNotExist:
        raise UnknownMeter(f"There is no meter called {code!r}.") from None


def get_account(*, external_id: str) -> Account:
    try:
        return Account.objects.select_related("plan").get(external_id=external_id)
    except Account.DoesNotExist:
        raise UnknownAccount(f"No account has the id {external_id!r}.") from None


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


def any_of(
    values: Iterable[int | str], *, db_type: str = "bigint"
) -> RawSQL | list[int | str]:
    """The right side of an ``__in`` filter over many values.

    On PostgreSQL the values go as one array parameter: Django compiles and
    adapts an IN list of a thousand placeholders in ~10 ms, far longer than
    the query runs. Elsewhere, the plain list.
    """
    values = list(values)
    if connection.vendor == "postgresql":
        return RawSQL(f"SELECT unnest(%s::{db_type}[])", (values,))
    return values


@dataclass(frozen=True, slots=True)
class Authorization:
    allowed: bool
    reason: (
        str | None
    )  # None | quota_exceeded | overage_confirmation_required | blocked
    state: str
    remaining: int


def authorize_usage(
    *, account: Account, meter: Meter, quantity: int, at: datetime | None = None
) -> Authorization:
    """May the platform use ``quantity`` more? A read: records nothing.

    The API takes the one-statement path (``billing.quotas.hot``); both end
    in ``_authorization``.
    """
    at = at or timezone.now()
    status = quota_status(account=account, meter=meter, at=at)
    return _authorization(account=account, status=status, quantity=quantity, at=at)


def authorize_from_facts(*, quantity: int, at: datetime, **facts: Any) -> Authorization:
    """``authorize_usage`` from facts already loaded (``billing.quotas.hot``);
    ``facts`` are ``status_from_facts``'s."""
    status = status_from_facts(at=at, **facts)
    return _authorization(
        account=facts["account"], status=status, quantity=quantity, at=at
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
    """``quota_status`` from facts already loaded (``billing.quotas.hot``)."""
    if not meter_applies(meter=meter, account=account):
        raise UnknownMeter(f"The {meter.code} meter does not apply to this account.")
    period = period_of(at)
    if consent is not None and not consent_covers(consent, period):
        consent = None
    if meter.kind == Meter.Kind.GAUGE and consent is not None:
        consented_excess = _storage_consented_excess(
            account_ids=[account.pk], period=period, before=at.date(), meter_id=meter.pk
        ).get((account.pk, meter.pk), Decimal(0))
    elif meter.kind != Meter.Kind.COUNTER:
        consented_excess = Decimal(0)
    facts = _Facts(
        allowance=allowance,
        granted=granted,
        consumed=consumed,
        used=used,
        covered=covered if meter.kind == Meter.Kind.COUNTER else 0,
        consent=consent,
        consented_excess=consented_excess,
    )
    if started_term and meter.kind == Meter.Kind.COUNTER:
        facts = _folded_now(account=account, meter=meter, facts=facts, at=at)
    return _quota_status(account=account, meter=meter, facts=facts, at=at)


def _authorization(
    *, account: Account, status: QuotaStatus, quantity: int, at: datetime
) -> Authorization:
    """Within the limit: allowed. Past it: hard limits refuse, priced meters
    need a consent, and a consent allows only while the projected overage
    cost including this request stays within its cap."""
    meter = status.meter
    if account.hard_blocked:
        return Authorization(False, "blocked", State.BLOCKED, status.remaining)
    if status.used + quantity <= status.limit:
        return Authorization(True, None, status.state, status.remaining - quantity)
    if meter.is_hard_limit:
        return Authorization(False, "quota_exceeded", State.EXCEEDED, status.remaining)
    if status.consent is None:
        return Authorization(
            False, "overage_confirmation_required", State.EXCEEDED, status.remaining
        )
    # Only this request's own excess is new: usage past the limit from
    # before the consent stays unbilled and does not count against the cap.
    if meter.kind == Meter.Kind.GAUGE:
        new_excess = status.used + quantity - status.limit
        days_left = Decimal((status.period.end - at.date()).days)
        cost = storage_overage_cents(
            meter, status.consented_excess + new_excess * days_left, status.period
        )
    else:
        added = min(quantity, status.used + quantity - status.limit)
        cost = counter_overage_cents(meter, int(status.consented_excess) + added)
    if cost > status.consent.cap_cents or status.state == State.BLOCKED:
        return Authorization(False, "blocked", State.BLOCKED, status.remaining)
    return Authorization(True, None, State.OVERAGE, status.remaining)


def job_slot_limit(*, account: Account, at: datetime | None = None) -> int:
    """Plan allowance plus live slot grants (expired ones never count).

    One query: allocation reads it under the account's lock.
    """
    at = at or timezone.now()
    slots = Meter.objects.filter(code="job_slots")
    granted = (
        Grant.objects.active_at(at)
        .filter(account_id=account.pk, meter_id=OuterRef("pk"))
        .order_by()
        .values("meter_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    allowance = PlanAllowance.objects.filter(
        plan_id=account.plan_id, meter_id=OuterRef("pk")
    ).values("amount")[:1]
    row = slots.values_list(
        Coalesce(Subquery(allowance), 0), Coalesce(Subquery(granted), 0)
    ).first()
    return sum(row) if row else 0


@dataclass(frozen=True, slots=True)
class JobSlotOverview:
    used: int
    limit: int
    active: list[JobSlot]
    suspended: list[JobSlot]

    @property
    def percent(self) -> float:
        if self.limit <= 0:
            return 100.0 if self.used > 0 else 0.0
        return round(self.used * 100 / self.limit, 1)


def job_slot_overview(*, account: Account) -> JobSlotOverview:
    held = list(account.job_slots.held().order_by("allocated_at", "pk"))
    active = [s for s in held if s.status == JobSlot.Status.ACTIVE]
    suspended = [s for s in held if s.status == JobSlot.Status.SUSPENDED]
    return JobSlotOverview(
        used=len(active),
        limit=job_slot_limit(account=account),
        active=active,
        suspended=suspended,
    )


# Money ------------------------------------------------------------------


def outstanding_balance_cents(*, account: Account) -> int:
    """Sum of pending charges: what the account owes right now."""
    return (
        account.charges.filter(status=ChargeRecord.Status.PENDING).aggregate(
            total=Sum("amount_cents")
        )["total"]
        or 0
    )


def list_charges(*, account: Account) -> QuerySet[ChargeRecord]:
    """The account's ledger, newest first, each row with its refunds, invoice
    and credit note at hand."""
    return (
        account.charges.select_related(
            "refund_of", "purchase__pack", "meter", "invoice", "credit_note"
        )
        .prefetch_related("refunds")
        .order_by("-created_at", "-pk")
    )


def list_active_packs(
    *, account: Account, at: datetime | None = None
) -> QuerySet[Purchase]:
    at = at or timezone.now()
    return account.purchases.filter(
        status=Purchase.Status.COMPLETED, expires_at__gt=at
    ).select_related("pack")


# Expiry reminders go out this long before a pack's term ends (7 days and 1
# day), unless it was renewed; each is an alert whose reference names the
# purchase and the reminder.
REMINDERS = [(timedelta(days=1), "1d"), (timedelta(days=7), "7d")]
REMINDER_DAYS = {"1d": 1, "7d": 7}


def reminder_reference(*, purchase_id: int, window: str) -> str:
    return f"purchase:{purchase_id}:{window}"


def expires_soon(*, purchase: Purchase, at: datetime) -> bool:
    """Within the reminder window: the overview points it out."""
    return at < purchase.expires_at <= at + REMINDERS[-1][0]


@dataclass(frozen=True, slots=True)
class SentReminder:
    days_before: int
    sent_at: datetime


def sent_reminders(*, account: Account) -> dict[int, list[SentReminder]]:
    """The expiry reminders already sent, per purchase id, earliest first."""
    sent: dict[int, list[SentReminder]] = defaultdict(list)
    rows = (
        Alert.objects.filter(
            account=account,
            kind=Alert.Kind.EXPIRING_SOON,
            reference__startswith="purchase:",
        )
        .order_by("created_at")
        .values_list("reference", "created_at")
    )
    for reference, created_at in rows:
        _, purchase_id, window = (reference.split(":") + ["", ""])[:3]
        if purchase_id.isdigit() and window in REMINDER_DAYS:
            sent[int(purchase_id)].append(
                SentReminder(days_before=REMINDER_DAYS[window], sent_at=created_at)
            )
    return dict(sent)


def pack_applies(*, pack: Pack, account: Account) -> bool:
    """Job-slot packs are for companies; capacity packs for every account."""
    return pack.category != Pack.Category.SLOTS or account.kind == Account.Kind.COMPANY


def list_catalogue(
    *,
    account: Account | None = None,
    meter_code: str | None = None,
    category: str | None = None,
) -> QuerySet[Pack]:
    """Packs on sale (for ``account``: those it may buy), optionally covering one
    meter or of one category."""
    packs = Pack.objects.filter(is_active=True).prefetch_related("allowances__meter")
    if account is not None and account.kind != Account.Kind.COMPANY:
        packs = packs.exclude(category=Pack.Category.SLOTS)
    if meter_code:
        packs = packs.filter(allowances__meter__code=meter_code)
    if category:
        packs = packs.filter(category=category)
    return packs


# People -----------------------------------------------------------------


def can_manage_account(*, user: object, account: Account) -> bool:
    """Personal accounts: their user. Company accounts: owners and admins."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if account.kind == Account.Kind.USER:
        return account.user_id == user.pk
    return Membership.objects.filter(
        user=user,
        company_id=account.company_id,
        role__in=[Membership.Role.OWNER, Membership.Role.ADMIN],
    ).exists()


def list_accounts_for_user(*, user: object) -> QuerySet[Account]:
    """The user's personal account and every company account they belong to."""
    return (
        Account.objects.filter(
            Q(user_id=user.pk) | Q(company__memberships__user_id=user.pk)
        )
        .distinct()
        .order_by("kind", "name")
    )


def get_account_for_user(*, user: object, account_id: int) -> Account:
    try:
        return (
            list_accounts_for_user(user=user).select_related("plan").get(pk=account_id)
        )
    except Account.DoesNotExist:
        raise NotFound("No such account.") from None


# Dashboard reads --------------------------------------------------------


def list_meters(*, account: Account | None = None) -> list[Meter]:
    """Meters in display order; with ``account``, only those that apply to it."""
    return [
        m
        for m in _meters()
        if account is None or meter_applies(meter=m, account=account)
    ]


def meter_applies(*, meter: Meter, account: Account) -> bool:
    """Job slots exist only for companies; every other meter applies to all."""
    return meter.kind != Meter.Kind.ALLOCATION or account.kind == Account.Kind.COMPANY


@dataclass(frozen=True, slots=True)
class UsagePoint:
    day: date
    used: int
    limit: int
    state: str
    live: bool = False  # today so far, from the live counters (no snapshot yet)


@dataclass(frozen=True, slots=True)
class UsageSeries:
    meter: Meter
    points: list[UsagePoint]


def usage_history(
    *, account: Account, days: int, at: datetime | None = None
) -> list[UsageSeries]:
    """The last ``days`` days, one series per meter: finished days from the
    daily snapshots, then today so far from the live figures, so a chart
    never ends before the usage the user is being told about.

    Reads snapshots and the cached counters, never raw events.
    """
    at = at or timezone.now()
    today = at.astimezone(UTC).date()
    since = today - timedelta(days=days - 1)
    points: dict[int, list[UsagePoint]] = defaultdict(list)
    rows = (
        UsageSnapshot.objects.filter(account=account, day__gte=since, day__lt=today)
        .order_by("day")
        .values_list("meter_id", "day", "used", "limit", "state")
    )
    for meter_id, day, used, limit, state in rows:
        points[meter_id].append(UsagePoint(day, used, limit, state))
    for status in account_quotas(account=account, at=at):
        points[status.meter.pk].append(
            UsagePoint(today, status.used, status.limit, status.state, live=True)
        )
    return [
        UsageSeries(meter=meter, points=points.get(meter.pk, []))
        for meter in _meters()
        if meter_applies(meter=meter, account=account)
    ]


@dataclass(frozen=True, slots=True)
class LimitChange:
    meter: Meter
    amount: int
    limit_before: int
    limit_after: int


@dataclass(frozen=True, slots=True)
class ChargePreview:
    """What a confirmation page shows and posts: price, tax and total.

    The purchase services quote the same lines at confirmation and refuse a
    total other than the one shown, so the page posts ``gross_cents``.
    """

    quote: ChargeQuote

    @property
    def net_cents(self) -> int:
        return self.quote.net_cents

    @property
    def tax_cents(self) -> int:
        return self.quote.tax_cents

    @property
    def gross_cents(self) -> int:
        return self.quote.gross_cents

    @property
    def reverse_charge(self) -> bool:
        return self.quote.treatment.reverse_charge

    @property
    def adds_tax(self) -> bool:
        """Prices carry tax on top (a rate above 0%, not reverse-charged)."""
        treatment = self.quote.treatment
        return bool(treatment.rate_percent) and not treatment.reverse_charge

    @property
    def rate_label(self) -> str:
        """E.g. "VAT 19% (DE)" or "Reverse charge"; "" when no tax applies."""
        treatment = self.quote.treatment
        if treatment.reverse_charge:
            return "Reverse charge"
        if not treatment.rate_percent:
            return ""
        return f"VAT {format_percent(treatment.rate_percent)}% ({treatment.country})"

    @property
    def tax_label(self) -> str:
        """The tax line's label; "" with no tax line (nothing taxed, or 0%)."""
        return self.rate_label if self.net_cents else ""

    @property
    def billing_country(self) -> str:
        """The country in the buyer's billing details, by name; "" without one."""
        code = self.quote.buyer.country
        return countries.name(code) if code else ""

    @property
    def taxed_country(self) -> str:
        """Whose rate applies, by name (the seller's without a billing country)."""
        return countries.name(self.quote.treatment.country)


def charge_preview(
    *, account: Account, lines: Sequence[LineIn], at: datetime
) -> ChargePreview:
    """Quote ``lines`` as the purchase service will: net, tax at the buyer's
    rate of that day (or reverse charge), and the gross to be collected.

    With no lines it only says which tax the account's prices carry (a
    price list's "plus VAT 19%").
    """
    return ChargePreview(quote=quote_charge(account=account, lines=lines, at=at))


@dataclass(frozen=True, slots=True)
class PurchasePreview:
    pack: Pack
    starts_at: datetime
    expires_at: datetime
    changes: list[LimitChange]
    charge: ChargePreview


def purchase_preview(
    *, account: Account, pack: Pack, starts_at: datetime | None = None
) -> PurchasePreview:
    """What buying ``pack`` changes and costs, before the user confirms.

    A grant starting now adds its amount to today's limit (a gauge's
    capacity, a counter's top-up balance); one starting later changes
    nothing until then.
    """
    now = timezone.now()
    starts_at = starts_at or now
    current = {s.meter.pk: s.limit for s in account_quotas(account=account, at=now)}
    changes = []
    for line in pack.allowances.all():
        before = current.get(line.meter_id, 0)
        after = before + line.amount if starts_at <= now else before
        changes.append(LimitChange(line.meter, line.amount, before, after))
    return PurchasePreview(
        pack=pack,
        starts_at=starts_at,
        expires_at=pack.expiry_from(starts_at),
        changes=changes,
        charge=charge_preview(
            account=account, lines=[pack_line(pack=pack, renewal=False)], at=now
        ),
    )


def purchase_state(*, purchase: Purchase, at: datetime) -> str:
    """active, upcoming (a renewal that starts later), expired or refunded."""
    if purchase.status == Purchase.Status.REFUNDED:
        return "refunded"
    if purchase.expires_at <= at:
        return "expired"
    if purchase.starts_at > at:
        return "upcoming"
    return "active"


def renewal_start(*, purchase: Purchase, at: datetime) -> datetime:
    """Before expiry the new term starts at the old expiry (no gap); after, now."""
    return purchase.expires_at if purchase.expires_at > at else at


# A subscription term can be renewed from this long before its end until
# this long after it; later, the pack is bought again.
RENEWAL_WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class RenewalPreview:
    purchase: Purchase
    refusal: str | None  # why it cannot be renewed now; None when it can
    starts_at: datetime
    expires_at: datetime
    charge: ChargePreview | None  # None when refused: nothing to pay


def renewal_preview(*, purchase: Purchase, at: datetime) -> RenewalPreview:
    """The next term of ``purchase`` and what renewing at ``at`` costs, or
    why it cannot be renewed (as ``renew_purchase`` decides)."""
    refusal = renewal_refusal(purchase=purchase, at=at)
    starts_at = renewal_start(purchase=purchase, at=at)
    charge = None
    if refusal is None:
        charge = charge_preview(
            account=purchase.account,
            lines=[pack_line(pack=purchase.pack, renewal=True)],
            at=at,
        )
    return RenewalPreview(
        purchase=purchase,
        refusal=refusal,
        starts_at=starts_at,
        expires_at=purchase.pack.expiry_from(starts_at),
        charge=charge,
    )


def renewal_refusal(*, purchase: Purchase, at: datetime) -> str | None:
    """Why ``purchase`` cannot be renewed at ``at``, or None when it can.

    Only the latest term of a subscription, within the renewal window around
    its end: renewals cannot be stacked a year ahead. Reads
    ``purchase.renewals.all()`` so listings can prefetch it.
    """
    if not purchase.pack.is_subscription:
        return "Only subscription packs can be renewed; buy this pack again."
    if purchase.status != Purchase.Status.COMPLETED:
        return "Only a paid, unrefunded pack can be renewed."
    if any(r.status == Purchase.Status.COMPLETED for r in purchase.renewals.all()):
        return "This pack was already renewed; renew the newest term."
    if not purchase.pack.is_active:
        return f"{purchase.pack.name} is no longer sold and cannot be renewed."
    opens = purchase.expires_at - RENEWAL_WINDOW
    if at < opens:
        return (
            f"Renewal opens on {opens.day} {opens:%b %Y}, "
            f"{RENEWAL_WINDOW.days} days before this term ends."
        )
    if at > purchase.expires_at + RENEWAL_WINDOW:
        return (
            f"This term ended more than {RENEWAL_WINDOW.days} days ago: "
            "buy the pack again."
        )
    return None


def list_purchases(*, account: Account) -> QuerySet[Purchase]:
    """Paid and refunded purchases, newest term first (declines are in the ledger)."""
    return (
        account.purchases.exclude(status=Purchase.Status.FAILED)
        .select_related("pack")
        .prefetch_related("renewals", "pack__allowances__meter")
        .order_by("-expires_at", "-pk")
    )


def get_purchase_for_account(*, account: Account, purchase_id: int) -> Purchase:
    try:
        return account.purchases.select_related("pack", "bought_by").get(pk=purchase_id)
    except Purchase.DoesNotExist:
        raise NotFound("No such purchase on this account.") from None


def get_purchase_by_token(*, account: Account, token: str) -> Purchase | None:
    """The purchase a confirmation form's idempotency token already made, if any."""
    return account.purchases.filter(idempotency_key=token).first()


def get_pack(*, code: str, category: str | None = None) -> Pack:
    """An active pack by code; inactive ones are not for sale."""
    packs = Pack.objects.filter(is_active=True).prefetch_related("allowances__meter")
    if category:
        packs = packs.filter(category=category)
    try:
        return packs.get(code=code)
    except Pack.DoesNotExist:
        raise NotFound(f"No pack {code!r} is on sale.") from None


def list_open_alerts(
    *, account: Account, at: datetime | None = None
) -> QuerySet[Alert]:
    """Undismissed alerts of this period or later (expiry reminders look ahead)."""
    period = period_of(at or timezone.now())
    return account.alerts.filter(
        dismissed_at__isnull=True, period_start__gte=period.start
    ).order_by("-created_at")


# A state alert is news only while its meter is still in that state: an
# "exceeded" banner under a card that says ok (a pack was bought since) misleads.
_ALERT_STATES = {
    Alert.Kind.WARNING_80: State.WARNING,
    Alert.Kind.EXCEEDED: State.EXCEEDED,
    Alert.Kind.BLOCKED: State.BLOCKED,
}


def current_alerts(
    *, account: Account, statuses: Sequence[QuotaStatus], at: datetime | None = None
) -> list[Alert]:
    """Open alerts still true now: state alerts whose meter is still in that
    state, and every reminder (expiring, expired, suspended) until dismissed."""
    state_of = {status.meter.pk: status.state for status in statuses}
    return [
        alert
        for alert in list_open_alerts(account=account, at=at)
        if alert.kind not in _ALERT_STATES
        or alert.meter_id is None
        or state_of.get(alert.meter_id) == _ALERT_STATES[alert.kind]
    ]


def get_alert_for_account(*, account: Account, alert_id: int) -> Alert:
    try:
        return account.alerts.get(pk=alert_id)
    except Alert.DoesNotExist:
        raise NotFound("No such alert on this account.") from None


# HTTP API ---------------------------------------------------------------


def api_key_hash(*, raw_key: str) -> str | None:
    """What a key is stored as, or None for a value no key can have."""
    if not raw_key or len(raw_key) > 200:
        return None
    return ApiKey.hash_key(raw_key)


def get_live_api_key(*, raw_key: str) -> ApiKey | None:
    """The unrevoked key with this value, or None. Read on every request.

    No cache: a revoked key must fail on the very next call, on every host.
    A plain statement (prepared by the connection after a few calls): the
    ORM would spend longer compiling this lookup than the database running
    it, on every API request.
    """
    key_hash = api_key_hash(raw_key=raw_key)
    if key_hash is None:
        return None
    table = ApiKey._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, name, prefix FROM {table}"
            " WHERE key_hash = %s AND revoked_at IS NULL",
            [key_hash],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return ApiKey(id=row[0], name=row[1], prefix=row[2])


def get_company_account(*, external_id: str) -> Account:
    """Job slots exist only for company accounts: anything else is unknown here.

    A raw read (the slot calls are hot paths); fields not selected load on
    first access, as with ``only()``.
    """
    found = list(
        Account.objects.raw(
            f"SELECT id, kind, plan_id, external_id FROM {Account._meta.db_table}"
            " WHERE external_id = %s AND kind = %s",
            [external_id, Account.Kind.COMPANY],
        )
    )
    if not found:
        raise UnknownAccount(f"No company account has the id {external_id!r}.")
    return found[0]


# Pack kinds, as a buyer compares them -----------------------------------


@dataclass(frozen=True, slots=True)
class RenewalTerms:
    """How a subscription pack is kept going: reminders this many days before
    a term ends (earliest first), renewal from ``window_days`` before its end
    until ``window_days`` after."""

    reminder_days: tuple[int, ...]
    window_days: int


def renewal_terms() -> RenewalTerms:
    """The reminder and renewal-window rules as numbers, so pages word them
    from the same constants the reminder task and ``renewal_refusal`` use."""
    return RenewalTerms(
        reminder_days=tuple(sorted((w.days for w, _ in REMINDERS), reverse=True)),
        window_days=RENEWAL_WINDOW.days,
    )


def _pack_content(pack: Pack) -> tuple:
    lines = frozenset((a.meter_id, a.amount) for a in pack.allowances.all())
    return (pack.category, pack.term_days, lines)


def pack_counterparts(*, packs: Iterable[Pack]) -> dict[int, Pack]:
    """For each pack, the pack of the other kind among ``packs`` with the same
    allowances and term (cheapest first), so a card can say what the other
    form costs. Reads prefetched allowances: no query."""
    packs = list(packs)
    by_content: dict[tuple, list[Pack]] = defaultdict(list)
    for pack in sorted(packs, key=lambda p: (p.price_cents, p.code)):
        by_content[_pack_content(pack)].append(pack)
    found = {}
    for pack in packs:
        other = next(
            (
                p
                for p in by_content[_pack_content(pack)]
                if p.is_subscription != pack.is_subscription
            ),
            None,
        )
        if other is not None:
            found[pack.pk] = other
    return found


def list_account_managers(*, account: Account) -> QuerySet[Membership]:
    """The owners and admins of a company account (owners first), with their
    users: the people a plain member asks to buy or renew. None for a
    personal account."""
    if account.company_id is None:
        return Membership.objects.none()
    return (
        Membership.objects.filter(
            company_id=account.company_id,
            role__in=[Membership.Role.OWNER, Membership.Role.ADMIN],
        )
        .select_related("user")
        .order_by("-role", "user__name", "user__email")  # "owner" > "admin"
    )


# Charge documents and paying the balance --------------------------------

# Pack purchases and renewals are documented by their purchase's receipt;
# every other charge by a page of its own.
PURCHASE_CHARGE_KINDS = (
    ChargeRecord.Kind.CAPACITY_PACK,
    ChargeRecord.Kind.SLOT_PACK,
    ChargeRecord.Kind.RENEWAL,
)
_CHARGE_PURPOSES = {
    ChargeRecord.Kind.CAPACITY_PACK: "Capacity pack purchase",
    ChargeRecord.Kind.SLOT_PACK: "Job-slot pack purchase",
    ChargeRecord.Kind.RENEWAL: "Pack renewal",
    ChargeRecord.Kind.OVERAGE: "Overage",
    ChargeRecord.Kind.THEME: "Theme from the store",
    ChargeRecord.Kind.BUNDLE: "Theme bundle from the store",
    ChargeRecord.Kind.REFUND: "Refund",
    ChargeRecord.Kind.ADJUSTMENT: "Account adjustment",
}


def receipt_purchase_id(*, charge: ChargeRecord) -> int | None:
    """The purchase whose receipt documents this charge, if that is its document."""
    if charge.kind in PURCHASE_CHARGE_KINDS:
        return charge.purchase_id
    return None


def get_charge_for_account(*, account: Account, charge_id: int) -> ChargeRecord:
    """One of the account's charges; another account's is not found (a 404)."""
    try:
        return account.charges.select_related(
            "meter",
            "purchase__pack",
            "refund_of",
            "created_by",
            "invoice",
            "credit_note",
        ).get(pk=charge_id)
    except ChargeRecord.DoesNotExist:
        raise NotFound("No such charge on this account.") from None


@dataclass(frozen=True, slots=True)
class OverageBasis:
    """The figures an overage charge was computed from, in the meter's unit.

    Storage counts the mean level above the limit over the period's days.
    """

    consented: int  # excess used while a consent was live
    unconsented: int  # excess without a live consent: never billed
    cost_cents: int  # the consented excess at the price, before the cap
    cap_cents: int | None
    billed_cents: int
    is_gauge: bool
    days: int


@dataclass(frozen=True, slots=True)
class ChargeDocument:
    charge: ChargeRecord
    purpose: str  # the kind in words
    period: Period | None  # an overage charge's billing period
    overage: OverageBasis | None  # None when the facts do not give the amount
    refunds: list[ChargeRecord]


def _overage_basis(charge: ChargeRecord, period: Period) -> OverageBasis | None:
    """Recompute the close from the facts as known when the charge was made.

    Shown only when it gives the amount charged again: a figure that does
    not add up to the charge would mislead more than no figure.
    """
    meter = charge.meter
    figures = period_overage_from_facts(
        account=charge.account, meter=meter, period=period, known_at=charge.created_at
    )
    if figures.billable_cents != charge.amount_cents:
        return None
    is_gauge = meter.kind == Meter.Kind.GAUGE
    per = period.days if is_gauge else 1
    unconsented = max(figures.excess_units - figures.consented_units, Decimal(0))
    return OverageBasis(
        consented=int(figures.consented_units / per),
        unconsented=int(unconsented / per),
        cost_cents=figures.consented_cents,
        cap_cents=figures.cap_cents,
        billed_cents=figures.billable_cents,
        is_gauge=is_gauge,
        days=period.days,
    )


def charge_document(*, charge: ChargeRecord) -> ChargeDocument:
    """What a charge's receipt page says: what it is for and, for overage,
    the usage and price it was computed from."""
    purpose = _CHARGE_PURPOSES.get(charge.kind, charge.get_kind_display())
    period = overage = None
    if (
        charge.kind == ChargeRecord.Kind.OVERAGE
        and charge.meter is not None
        and charge.period_start is not None
    ):
        period = period_of(charge.period_start)
        purpose = f"Overage on {charge.meter.name}, {period.start:%B %Y}"
        overage = _overage_basis(charge, period)
    return ChargeDocument(
        charge=charge,
        purpose=purpose,
        period=period,
        overage=overage,
        refunds=list(charge.refunds.order_by("created_at", "pk")),
    )


@dataclass(frozen=True, slots=True)
class PayPreview:
    charges: list[ChargeRecord]  # pending, oldest first
    total_cents: int
    token: str  # names exactly this set of charges

    @property
    def payable(self) -> bool:
        """As ``pay_outstanding_balance`` decides: something pending, owing > 0."""
        return bool(self.charges) and self.total_cents > 0


def pay_preview(*, account: Account) -> PayPreview:
    """The pending charges a payment would collect now, and a token naming them.

    The token changes whenever the pending set does: a confirmation pays
    only the list it showed, and a resubmitted one no longer matches.
    """
    charges = list(
        account.charges.filter(status=ChargeRecord.Status.PENDING).order_by(
            "created_at", "pk"
        )
    )
    ids = ",".join(str(charge.pk) for charge in charges)
    token = salted_hmac("billing.pay_preview", f"{account.pk}:{ids}").hexdigest()
    return PayPreview(
        charges=charges,
        total_cents=sum(charge.amount_cents for charge in charges),
        token=token[:32],
    )


@dataclass(frozen=True, slots=True)
class SettledCharges:
    count: int
    total_cents: int
    paid_at: datetime | None


def settled_charges(
    *, account: Account, charge_ids: Iterable[int]
) -> SettledCharges | None:
    """These charges of the account, when every one of them is paid.

    A confirmation sent twice finds the charges it listed settled by the
    first: the page reports that payment instead of paying again.
    """
    ids = set(charge_ids)
    if not ids:
        return None
    rows = list(
        account.charges.filter(pk__in=ids).values_list(
            "status", "amount_cents", "paid_at"
        )
    )
    if len(rows) != len(ids) or any(
        status != ChargeRecord.Status.PAID for status, _, _ in rows
    ):
        return None
    paid = [paid_at for _, _, paid_at in rows if paid_at is not None]
    return SettledCharges(
        count=len(rows),
        total_cents=sum(amount for _, amount, _ in rows),
        paid_at=max(paid, default=None),
    )
