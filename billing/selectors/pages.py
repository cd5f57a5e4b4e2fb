"""Reads shaped for the dashboard's account pages, one call per page or card.

Each result (a frozen dataclass, or the next steps as a tuple) carries the
figures a page shows together with the decisions about them already made (is
anything due, which next step is open, which overage line applies), so
templates only word them and views only pass them on.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ..models import Account, ChargeRecord, Grant, Meter, PackAllowance, Purchase
from ..quotas.current import period_overage, period_overages
from ..quotas.projection import MIN_DATA_DAYS, Projection, overage_projections
from ..quotas.rules import OverageFigures, State
from ..quotas.status import QuotaStatus
from .job_slots import JobSlotOverview, job_slot_overview
from .ledger import ChargeDocument, charge_document, outstanding_balance_cents
from .purchases import RenewalPreview, renewal_preview
from .quotas import account_quotas

# Balance -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Balance:
    """The account's outstanding balance as its pages show it."""

    cents: int  # the sum of pending charges
    due: bool  # something to pay: a positive balance, as payment decides


def balance_overview(*, account: Account) -> Balance:
    """The balance and whether it is due, so that no page compares money."""
    cents = outstanding_balance_cents(account=account)
    return Balance(cents=cents, due=cents > 0)


# Next steps on a quota card ----------------------------------------------


class NextStep(StrEnum):
    BUY_JOB_SLOTS = "buy_job_slots"
    BUY_PACK = "buy_pack"
    CONFIRM_OVERAGE = "confirm_overage"  # no consent yet
    REVIEW_OVERAGE = "review_overage"  # a live consent to raise or revoke


def quota_next_steps(*, status: QuotaStatus, account: Account) -> tuple[NextStep, ...]:
    """What can lift or settle a meter's state, the most direct first.

    Nothing within the limit, nor under a staff block (only support lifts
    it). Job slots are bought on their own page. Overage is offered only on
    priced meters, and only at the limit: a warning still leaves room.
    """
    if account.hard_blocked or status.state == State.OK:
        return ()
    meter = status.meter
    if meter.kind == Meter.Kind.ALLOCATION:
        return (NextStep.BUY_JOB_SLOTS,)
    if meter.is_hard_limit or status.state == State.WARNING:
        return (NextStep.BUY_PACK,)
    if status.consent is None:
        return (NextStep.BUY_PACK, NextStep.CONFIRM_OVERAGE)
    return (NextStep.BUY_PACK, NextStep.REVIEW_OVERAGE)


# Job slots ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobSlotStatus:
    slots: JobSlotOverview
    full: bool  # every slot in use: the next posting is refused


def job_slot_status(*, account: Account) -> JobSlotStatus:
    """A company's slots and whether they are full, by the rule allocation
    applies (a posting needs a free slot), so the page says what the API does."""
    slots = job_slot_overview(account=account)
    return JobSlotStatus(slots=slots, full=slots.full)


# Overage -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeterOverage:
    """One priced meter on the overage page: its state, this period's figures
    as period close would bill them, and where they are heading."""

    status: QuotaStatus
    figures: OverageFigures
    projection: Projection | None  # None: too few days of usage to project
    consented: bool  # a consent is live now
    # No live consent, yet one given earlier this period still bills what
    # was used while it was live.
    billed_after_revocation: bool
    over_cap: bool  # consented overage beyond the cap: billed only if raised
    unconsented: bool  # overage used without a live consent: never billed
    cap_cents: int | None  # the live consent's cap, the form's starting value


@dataclass(frozen=True, slots=True)
class OverageOverview:
    meters: list[MeterOverage]  # priced meters only: hard limits sell none
    min_projection_days: int  # a projection needs this many days of usage


def _meter_overage(
    status: QuotaStatus, figures: OverageFigures, projection: Projection | None
) -> MeterOverage:
    consented = status.consent is not None
    return MeterOverage(
        status=status,
        figures=figures,
        projection=projection,
        consented=consented,
        billed_after_revocation=not consented and figures.billable_cents > 0,
        over_cap=figures.beyond_cap_cents > 0,
        unconsented=figures.unconsented_cents > 0,
        cap_cents=status.cap_cents or None,
    )


def overage_overview(*, account: Account, at: datetime) -> OverageOverview:
    """Every priced meter's overage so far and its projection.

    The figures come from the same rules as period close (billable, beyond
    the cap, used without consent), so the page promises what close bills.
    """
    statuses = [
        s for s in account_quotas(account=account, at=at) if not s.meter.is_hard_limit
    ]
    figures = period_overages(
        account=account, meters=[s.meter for s in statuses], at=at
    )
    projections = overage_projections(account=account, statuses=statuses, at=at)
    return OverageOverview(
        meters=[
            _meter_overage(s, figures[s.meter.pk], projections.get(s.meter.pk))
            for s in statuses
        ],
        min_projection_days=MIN_DATA_DAYS,
    )


@dataclass(frozen=True, slots=True)
class ConsentOutcome:
    """What a consent just given means for this period, for the page's notices."""

    billable_cents: int  # overage already used that period close will bill
    bills_already: bool  # some overage used so far is billable
    consented_cents: int  # the overage used under consent, before the cap
    cap_reached: bool  # that overage meets the cap: new usage stays refused


def consent_outcome(*, account: Account, meter: Meter, at: datetime) -> ConsentOutcome:
    """The period's overage under the consent now live, read after it is given
    so the notices state what close will bill, from the same figures."""
    figures = period_overage(account=account, meter=meter, at=at)
    return ConsentOutcome(
        billable_cents=figures.billable_cents,
        bills_already=figures.billable_cents > 0,
        consented_cents=figures.consented_cents,
        cap_reached=figures.cap_reached,
    )


# Purchases ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PurchaseReceipt:
    purchase: Purchase
    charges: list[ChargeRecord]  # oldest first, each with its documents
    grants: list[Grant]  # the capacity it added
    statuses: list[QuotaStatus]  # the account's limits now
    scheduled: bool  # its term starts after it was bought (a renewal's)


def purchase_receipt(*, purchase: Purchase, at: datetime) -> PurchaseReceipt:
    """A purchase's receipt: its charges, the capacity it added and the
    limits it leaves, read in a fixed number of queries."""
    account = purchase.account
    return PurchaseReceipt(
        purchase=purchase,
        charges=list(
            purchase.charges.select_related("invoice", "credit_note").order_by("pk")
        ),
        grants=list(purchase.grants.select_related("meter")),
        statuses=account_quotas(account=account, at=at),
        scheduled=purchase.starts_at > purchase.created_at,
    )


@dataclass(frozen=True, slots=True)
class RenewalOverview:
    preview: RenewalPreview  # the next term and its price, or why not
    allowances: list[PackAllowance]  # what the new term adds, meters at hand
    no_gap: bool  # the new term starts the moment the current one ends


def renewal_overview(*, purchase: Purchase, at: datetime) -> RenewalOverview:
    """The renewal confirmation: ``renewal_preview`` and what the pack adds.

    Renewed before its end, a term continues without a gap; after it, the
    new term starts at once.
    """
    preview = renewal_preview(purchase=purchase, at=at)
    return RenewalOverview(
        preview=preview,
        allowances=list(purchase.pack.allowances.select_related("meter")),
        no_gap=preview.starts_at == purchase.expires_at,
    )


# Charges -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChargeOverview:
    document: ChargeDocument
    capped: bool  # an overage charge the spending cap held below its cost


def charge_overview(*, charge: ChargeRecord) -> ChargeOverview:
    """A charge's receipt page (``charge_document``), with whether the cap
    decided the amount, so that the page need not compare the figures."""
    document = charge_document(charge=charge)
    basis = document.overage
    return ChargeOverview(
        document=document,
        capped=basis is not None and basis.billed_cents < basis.cost_cents,
    )
