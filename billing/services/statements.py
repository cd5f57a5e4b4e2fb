"""Issue the monthly statements of account, once per account and month.

The figures come from ``billing.statements`` (timestamped facts only), so a
statement issued late, or re-run, says the same as one issued on the first
of the month. Only a month that has ended is issued: its facts no longer
change.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Min

from ..db import any_of
from ..documents import buyer_party, seller_party
from ..errors import PeriodNotOver
from ..models import Account, ChargeRecord, Statement, StatementLine
from ..statements import StatementDraft, statement_drafts
from ..units import Period, period_of


@dataclass(frozen=True, slots=True)
class StatementRun:
    period: Period
    statements: tuple[Statement, ...]  # issued by this run
    already_issued: int  # accounts whose statement an earlier run wrote

    @property
    def issued(self) -> int:
        return len(self.statements)


def _write(
    *, draft: StatementDraft, account: Account, now: datetime
) -> Statement | None:
    """Write one statement and its lines; None if another run wrote it first.

    Each account has its own transaction: the unique (account, month)
    constraint refuses a second statement, and only this account's insert
    is rolled back.
    """
    buyer = buyer_party(account=account, with_email=False)
    seller = seller_party()
    try:
        with transaction.atomic():
            statement = Statement.objects.create(
                account=account,
                period_start=draft.period.start,
                issued_at=now,
                currency=settings.BILLING_CURRENCY,
                seller_name=seller.name,
                seller_address=seller.address,
                seller_country=seller.country,
                seller_vat_id=seller.vat_id,
                seller_bank=seller.bank,
                buyer_name=buyer.name[:200],
                buyer_address=buyer.address,
                buyer_country=buyer.country,
                buyer_vat_id=buyer.vat_id,
                opening_due_cents=draft.opening_due_cents,
                charges_cents=draft.charges_cents,
                payments_cents=draft.payments_cents,
                refunds_cents=draft.refunds_cents,
                credits_cents=draft.credits_cents,
                closing_due_cents=draft.closing_due_cents,
            )
            StatementLine.objects.bulk_create(
                [
                    StatementLine(
                        statement=statement,
                        position=position,
                        at=line.at,
                        kind=line.kind,
                        description=line.description,
                        reference=line.reference,
                        amount_cents=line.amount_cents,
                        balance_cents=line.balance_cents,
                    )
                    for position, line in enumerate(draft.lines, start=1)
                ]
            )
    except IntegrityError:
        exists = Statement.objects.filter(
            account=account, period_start=draft.period.start
        ).exists()
        if not exists:
            raise
        return None
    return statement


def issue_statements(*, period: Period, at: datetime) -> StatementRun:
    """Write the statement of every account with activity in ``period``.

    Idempotent: accounts already holding the month's statement are skipped,
    and two runs at once write one statement per account (the loser of a
    race finds the winner's). A month that has not ended is refused.
    """
    if at < period.ends_at:
        raise PeriodNotOver(
            f"{period} has not ended yet; its statements can be issued from"
            f" {period.end:%Y-%m-%d} on."
        )
    issued_before = set(
        Statement.objects.filter(period_start=period.start).values_list(
            "account_id", flat=True
        )
    )
    drafts = statement_drafts(period=period, skip_account_ids=issued_before)
    accounts = {
        account.pk: account
        for account in Account.objects.select_related("user", "company").filter(
            pk__in=any_of([draft.account_id for draft in drafts])
        )
    }
    written = []
    raced = set()
    for draft in drafts:
        statement = _write(draft=draft, account=accounts[draft.account_id], now=at)
        if statement is None:
            raced.add(draft.account_id)
        else:
            written.append(statement)
    return StatementRun(
        period=period,
        statements=tuple(written),
        already_issued=len(issued_before | raced),
    )


def issue_due_statements(*, at: datetime) -> list[StatementRun]:
    """Issue every ended month's missing statements, from the first charge on.

    The monthly run, with catch-up: a run missed on the 1st (or a deploy
    with a history of charges) is made good by the next one; months already
    issued write nothing.
    """
    first = ChargeRecord.objects.aggregate(first=Min("created_at"))["first"]
    if first is None:
        return []
    runs = []
    period = period_of(first)
    while period.ends_at <= at:
        runs.append(issue_statements(period=period, at=at))
        period = period.next()
    return runs
