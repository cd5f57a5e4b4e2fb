"""Statements of account, worked out from timestamped facts (reads only).

The amount an account owes at an instant T is the sum of what happened
before T, each fact at its own timestamp, never an inference from today's
statuses (a charge pending at T may be paid since):

- plus each charge (packs, renewals, overage, themes, bundles, adjustments)
  that did not fail, at its ``created_at``, for its gross ``amount_cents``;
- minus its payment, at its ``paid_at``; the charges paid together by one
  gateway payment (``pay_outstanding_balance``) are one payment;
- plus each refund paid out (a refund row), at its ``created_at``;
- minus each credit note, at its ``issued_at``, for its gross.

A refund thus nets to zero (money went back, and the invoice is credited)
and a voided charge is cancelled by its credit note. A statement is the
account's month: the amount due at its first instant, one line per fact in
it with the running amount due, and the amount due at its end, which is the
sum of the charges pending then. ``billing.services.statements`` writes
them.
"""

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from .db import any_of
from .models import Account, ChargeRecord, CreditNote, StatementLine
from .units import Period

Kind = ChargeRecord.Kind
Status = ChargeRecord.Status
LineKind = StatementLine.Kind

# What an account is charged for: every kind but the refunds' own rows.
BILLED_KINDS = (
    Kind.CAPACITY_PACK,
    Kind.SLOT_PACK,
    Kind.RENEWAL,
    Kind.OVERAGE,
    Kind.THEME,
    Kind.BUNDLE,
    Kind.ADJUSTMENT,
)
# Charges and refunds written before credit notes existed have none. A void
# charge then has no instant at which it stopped being due (the ledger keeps
# no void timestamp), so it counts as never due: neither its + nor a -. A
# refund row without its credit note is left out likewise: its payout and
# the missing credit would net to zero anyway.
_NEVER_DUE = Q(status=Status.VOID, credit_note__isnull=True)
_DUE_CHARGE = Q(kind__in=BILLED_KINDS) & ~Q(status=Status.FAILED) & ~_NEVER_DUE
_PAID_CHARGE = Q(kind__in=BILLED_KINDS, status=Status.PAID)
_CREDITED_REFUND = Q(kind=Kind.REFUND, credit_note__isnull=False)
# Same instant: charges and payouts first, then what lowers the amount due,
# so the running amount never dips below zero within one purchase.
_LINE_ORDER: dict[str, int] = {
    LineKind.CHARGE: 0,
    LineKind.REFUND: 1,
    LineKind.PAYMENT: 2,
    LineKind.CREDIT_NOTE: 3,
}


def _paid_at(charge: ChargeRecord) -> datetime:
    # Rows paid before paid_at was always set count as paid when written.
    return charge.paid_at or charge.created_at


def _related(obj: object, name: str) -> object | None:
    """A reverse one-to-one loaded by select_related, or None."""
    try:
        return getattr(obj, name)
    except ObjectDoesNotExist:
        return None


def _for_accounts(queryset: QuerySet, account_ids: Collection[int] | None) -> QuerySet:
    if account_ids is None:
        return queryset
    return queryset.filter(account_id__in=any_of(account_ids))


def amounts_due_at(
    *, at: datetime, account_ids: Collection[int] | None = None
) -> dict[int, int]:
    """What each account owed at ``at``, from the facts before it: two queries.

    Accounts that owed nothing and never had a fact may be missing.
    """
    charges = (
        _for_accounts(ChargeRecord.objects.filter(created_at__lt=at), account_ids)
        .annotate(paid_on=Coalesce("paid_at", "created_at"))
        .values("account_id")
        .annotate(
            charged=Sum("amount_cents", filter=_DUE_CHARGE),
            paid=Sum("amount_cents", filter=_PAID_CHARGE & Q(paid_on__lt=at)),
            refunded=Sum("amount_cents", filter=_CREDITED_REFUND),
        )
        .order_by()
    )
    due: dict[int, int] = defaultdict(int)
    for row in charges:
        # Refund rows are negative: a payout raises the amount due.
        due[row["account_id"]] += (
            (row["charged"] or 0) - (row["paid"] or 0) - (row["refunded"] or 0)
        )
    credits = (
        _for_accounts(CreditNote.objects.filter(issued_at__lt=at), account_ids)
        .values("account_id")
        .annotate(total=Sum("gross_cents"))
        .order_by()
    )
    for row in credits:
        due[row["account_id"]] -= row["total"]
    return dict(due)


def amount_due_at(*, account: Account, at: datetime) -> int:
    """What ``account`` owed at ``at``, from the facts before it."""
    return amounts_due_at(at=at, account_ids=[account.pk]).get(account.pk, 0)


@dataclass(frozen=True, slots=True)
class StatementLineDraft:
    at: datetime
    kind: str  # a StatementLine.Kind
    description: str
    reference: str  # one document number, or the payment's gateway reference
    amount_cents: int  # signed as the amount due moves
    balance_cents: int = 0  # the amount due after this line


@dataclass(frozen=True, slots=True)
class StatementDraft:
    """One account's month as its statement will say it."""

    account_id: int
    period: Period
    opening_due_cents: int
    lines: tuple[StatementLineDraft, ...]

    def _total(self, kind: str) -> int:
        return sum(abs(line.amount_cents) for line in self.lines if line.kind == kind)

    @property
    def charges_cents(self) -> int:
        return self._total(LineKind.CHARGE)

    @property
    def payments_cents(self) -> int:
        return self._total(LineKind.PAYMENT)

    @property
    def refunds_cents(self) -> int:
        return self._total(LineKind.REFUND)

    @property
    def credits_cents(self) -> int:
        return self._total(LineKind.CREDIT_NOTE)

    @property
    def closing_due_cents(self) -> int:
        return self.opening_due_cents + sum(line.amount_cents for line in self.lines)

    @property
    def has_activity(self) -> bool:
        return bool(self.lines) or self.opening_due_cents != 0


def _charge_label(charge: ChargeRecord) -> str:
    """The charge with its kind named once: "Capacity pack: Pack 1"."""
    kind = charge.get_kind_display()
    what = charge.description or kind
    return what if kind.lower() in what.lower() else f"{kind}: {what}"


def _number(document: object | None) -> str:
    return getattr(document, "number", "") if document is not None else ""


def _payment_line(charges: list[ChargeRecord]) -> StatementLineDraft:
    """One gateway payment, whatever the number of charges it settled."""
    charges.sort(key=lambda c: c.pk)
    numbers = [_number(_related(c, "invoice")) or _charge_label(c) for c in charges]
    if len(charges) == 1:
        description = f"Payment received: {_charge_label(charges[0])}"
        reference = _number(_related(charges[0], "invoice"))
    else:
        description = (
            f"Payment received for {len(charges)} charges: {', '.join(numbers)}"
        )
        # Several invoices do not fit one reference: the payment's own.
        reference = charges[0].gateway_reference
    return StatementLineDraft(
        at=_paid_at(charges[0]),
        kind=LineKind.PAYMENT,
        description=description[:255],
        reference=reference[:40],
        amount_cents=-sum(c.amount_cents for c in charges),
    )


def _ever_due(charge: ChargeRecord) -> bool:
    """A declined charge never was; nor a void one without a credit note
    (voided before credit notes existed: its void has no date)."""
    if charge.status == Status.FAILED:
        return False
    return not (
        charge.status == Status.VOID and _related(charge, "credit_note") is None
    )


def _charge_line(charge: ChargeRecord) -> StatementLineDraft:
    return StatementLineDraft(
        at=charge.created_at,
        kind=LineKind.CHARGE,
        description=_charge_label(charge)[:255],
        reference=_number(_related(charge, "invoice")),
        amount_cents=charge.amount_cents,
    )


def _refund_line(charge: ChargeRecord) -> StatementLineDraft:
    return StatementLineDraft(
        at=charge.created_at,
        kind=LineKind.REFUND,
        description=(charge.description or "Refund paid out")[:255],
        reference=_number(_related(charge.refund_of, "invoice")),
        amount_cents=-charge.amount_cents,
    )


def _month_movements(
    *, period: Period, account_ids: Collection[int] | None
) -> dict[int, list[tuple[tuple, StatementLineDraft]]]:
    """Each account's facts in ``period``, as unsorted lines: two queries."""
    start, end = period.starts_at, period.ends_at
    charges = _for_accounts(
        ChargeRecord.objects.filter(
            Q(created_at__gte=start, created_at__lt=end)
            | Q(paid_at__gte=start, paid_at__lt=end)
        ),
        account_ids,
    ).select_related("invoice", "credit_note", "refund_of__invoice")
    moves: dict[int, list[tuple[tuple, StatementLineDraft]]] = defaultdict(list)
    payments: dict[tuple, list[ChargeRecord]] = defaultdict(list)

    def add(
        charge_or_note: ChargeRecord | CreditNote, line: StatementLineDraft
    ) -> None:
        key = (line.at, _LINE_ORDER[line.kind], charge_or_note.pk)
        moves[charge_or_note.account_id].append((key, line))

    def within(moment: datetime) -> bool:
        return start <= moment < end

    for charge in charges.order_by():
        if charge.kind == Kind.REFUND:
            if _related(charge, "credit_note") is not None and within(
                charge.created_at
            ):
                add(charge, _refund_line(charge))
            continue
        if not _ever_due(charge):
            continue
        if within(charge.created_at):
            add(charge, _charge_line(charge))
        if charge.status == Status.PAID and within(_paid_at(charge)):
            # One gateway payment settles every charge sharing its reference
            # and instant; a charge without a reference is its own payment.
            group = charge.gateway_reference or f"charge:{charge.pk}"
            payments[(charge.account_id, group, _paid_at(charge))].append(charge)
    for group in payments.values():
        first = min(group, key=lambda c: c.pk)
        add(first, _payment_line(group))

    notes = _for_accounts(
        CreditNote.objects.filter(issued_at__gte=start, issued_at__lt=end),
        account_ids,
    ).select_related("invoice")
    for note in notes.order_by():
        reason = f": {note.reason}" if note.reason else ""
        add(
            note,
            StatementLineDraft(
                at=note.issued_at,
                kind=LineKind.CREDIT_NOTE,
                description=f"Credit note for {note.invoice.number}{reason}"[:255],
                reference=note.number,
                amount_cents=-note.gross_cents,
            ),
        )
    return moves


def _draft(
    *,
    account_id: int,
    period: Period,
    opening: int,
    moves: Iterable[tuple[tuple, StatementLineDraft]],
) -> StatementDraft:
    balance = opening
    lines = []
    for _, line in sorted(moves, key=lambda move: move[0]):
        balance += line.amount_cents
        lines.append(
            StatementLineDraft(
                at=line.at,
                kind=line.kind,
                description=line.description,
                reference=line.reference,
                amount_cents=line.amount_cents,
                balance_cents=balance,
            )
        )
    return StatementDraft(
        account_id=account_id,
        period=period,
        opening_due_cents=opening,
        lines=tuple(lines),
    )


def statement_drafts(
    *,
    period: Period,
    account_ids: Collection[int] | None = None,
    skip_account_ids: Collection[int] = (),
) -> list[StatementDraft]:
    """The statements ``period`` calls for: every account with a fact in it
    or an amount due at its start, in account order.

    Four queries whatever the number of accounts (the month's facts are
    loaded together and grouped here). ``account_ids`` limits the accounts;
    ``skip_account_ids`` leaves out those already issued.
    """
    openings = amounts_due_at(at=period.starts_at, account_ids=account_ids)
    moves = _month_movements(period=period, account_ids=account_ids)
    skip = set(skip_account_ids)
    wanted = {a for a, due in openings.items() if due} | set(moves)
    return [
        _draft(
            account_id=account_id,
            period=period,
            opening=openings.get(account_id, 0),
            moves=moves.get(account_id, ()),
        )
        for account_id in sorted(wanted - skip)
    ]


def statement_lines(*, account: Account, period: Period) -> StatementDraft:
    """One account's month, as its statement says it (or would say it).

    Empty (no lines, nothing due) for a month without activity.
    """
    opening = amount_due_at(account=account, at=period.starts_at)
    moves = _month_movements(period=period, account_ids=[account.pk])
    return _draft(
        account_id=account.pk,
        period=period,
        opening=opening,
        moves=moves.get(account.pk, ()),
    )
