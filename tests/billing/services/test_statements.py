"""Statements of account: one month of mixed activity, worked out by hand.

Every sale below is made through the real services at a pinned instant.
Ireland's 23% applies (the buyer gives no country, so the seller's rate
does); each figure is net + tax rounded half-up once per line.
"""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine

from billing import statements as statement_reads
from billing.errors import PeriodNotOver
from billing.models import ChargeRecord, Statement, TaxRate
from billing.selectors import outstanding_balance_cents
from billing.services import statements as statement_service
from billing.services.consents import give_overage_consent
from billing.services.packs import purchase_pack
from billing.services.payments import pay_outstanding_balance
from billing.services.periods import close_billing_period
from billing.services.refunds import refund_charge
from billing.services.statements import issue_statements
from billing.statements import amount_due_at, statement_drafts, statement_lines
from billing.units import GB, Period, parse_period
from tests.factories.billing import (
    ChargeRecordFactory,
    PackFactory,
    meter,
    owner_of,
    personal_account,
    record_usage,
)

pytestmark = pytest.mark.django_db

SEPTEMBER = parse_period("2026-09")
OCTOBER = parse_period("2026-10")
NOVEMBER = parse_period("2026-11")
DECEMBER = parse_period("2026-12")


def at(month: int, day: int, hour: int = 10, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def frozen(instant: datetime):
    return time_machine.travel(instant, tick=False)


@pytest.fixture
def irish_vat():
    TaxRate.objects.create(
        country="IE", rate_percent=Decimal(23), valid_from=date(2020, 1, 1)
    )


def buy(account, price_cents: int, when: datetime, key: str) -> ChargeRecord:
    with frozen(when):
        pack = PackFactory(lines={"storage": GB}, price_cents=price_cents)
        result = purchase_pack(
            account=account, pack=pack, actor=owner_of(account), idempotency_key=key
        )
    return result.charge


def refund(charge: ChargeRecord, when: datetime, amount_cents: int | None = None):
    with frozen(when):
        return refund_charge(
            charge=charge,
            actor=None,
            amount_cents=amount_cents,
            customer_reason="Goodwill",
        )


def pay(account, when: datetime) -> None:
    with frozen(when):
        pay_outstanding_balance(account=account, actor=owner_of(account))


def close(period: Period, when: datetime) -> None:
    with frozen(when):
        close_billing_period(period=period, at=when)


def lines_of(statement: Statement) -> list[tuple]:
    return list(
        statement.lines.values_list(
            "position", "at", "kind", "reference", "amount_cents", "balance_cents"
        )
    )


@pytest.fixture
def november(irish_vat):
    """A customer's autumn, to the end of November (see the test for figures).

    September: 15 GB of bandwidth (10 GB over at 9c = 90c net, 111 gross)
    and 160 transcoding minutes (100 over at 3c = 300c net, 369 gross),
    charged at the close on 1 October and still due on 1 November.
    October: 25 GB (20 over: 180 net, 221 gross) and 110 minutes (50 over:
    150 net, 34.5 tax rounds up to 35, 185 gross), charged at a late close
    on 16 November.
    """
    with frozen(at(9, 1, 0)):
        account = personal_account()
        bystander = personal_account()  # never does anything
        for code in ("bandwidth", "transcoding"):
            give_overage_consent(
                account=account,
                meter=meter(code),
                cap_cents=10_000,
                recurring=True,
                actor=owner_of(account),
            )
    with frozen(at(9, 15)):
        record_usage(account, "bandwidth", 15 * GB)
        record_usage(account, "transcoding", 160 * 60)
    with frozen(at(10, 15)):
        record_usage(account, "bandwidth", 25 * GB)
        record_usage(account, "transcoding", 110 * 60)
    close(SEPTEMBER, at(10, 1, 2))  # 111 + 369 pending into November

    pay(account, at(11, 3))  # both September charges, one payment of 480
    pack_a = buy(account, 1000, at(11, 5), "a")  # 1230, paid
    pack_b = buy(account, 2000, at(11, 8), "b")  # 2460, paid
    refund(pack_b, at(11, 10), amount_cents=500)  # 500 back, credit note 500
    pack_c = buy(account, 400, at(11, 12), "c")  # 492, paid
    refund(pack_c, at(11, 14))  # all 492 back, credit note 492
    close(OCTOBER, at(11, 16))  # 221 + 185, pending
    overage = {
        charge.meter.code: charge
        for charge in ChargeRecord.objects.filter(
            account=account, kind=ChargeRecord.Kind.OVERAGE, period_start=OCTOBER.start
        )
    }
    refund(overage["transcoding"], at(11, 20))  # voided: credit note 185
    return {
        "account": account,
        "bystander": bystander,
        "a": pack_a,
        "b": pack_b,
        "c": pack_c,
        "bandwidth": overage["bandwidth"],
        "transcoding": overage["transcoding"],
    }


def test_a_month_of_mixed_activity_closes_at_the_balance_outstanding(november):
    account = november["account"]
    september = ChargeRecord.objects.filter(
        account=account, period_start=SEPTEMBER.start
    ).order_by("meter__code")
    assert [c.amount_cents for c in september] == [111, 369]
    sales = ("a", "b", "c", "bandwidth", "transcoding")
    assert [november[k].amount_cents for k in sales] == [1230, 2460, 492, 221, 185]
    with frozen(NOVEMBER.ends_at):
        due_at_month_end = outstanding_balance_cents(account=account)

    # December's activity must not reach November's statement.
    pay(account, at(12, 5))  # the 221
    buy(account, 700, at(12, 6), "d")  # 861, paid

    run = issue_statements(period=NOVEMBER, at=at(1, 2, year=2027))

    statement = Statement.objects.get(account=account, period_start=NOVEMBER.start)
    assert (run.issued, run.already_issued, run.statements) == (1, 0, (statement,))
    invoice = {k: november[k].invoice.number for k in sales}
    credit = {
        "b": november["b"].refunds.get().credit_note.number,
        "c": november["c"].refunds.get().credit_note.number,
        "transcoding": november["transcoding"].credit_note.number,
    }
    payment_reference = september[0].gateway_reference
    assert lines_of(statement) == [
        (1, at(11, 3), "payment", payment_reference, -480, 0),
        (2, at(11, 5), "charge", invoice["a"], 1230, 1230),
        (3, at(11, 5), "payment", invoice["a"], -1230, 0),
        (4, at(11, 8), "charge", invoice["b"], 2460, 2460),
        (5, at(11, 8), "payment", invoice["b"], -2460, 0),
        (6, at(11, 10), "refund", invoice["b"], 500, 500),
        (7, at(11, 10), "credit_note", credit["b"], -500, 0),
        (8, at(11, 12), "charge", invoice["c"], 492, 492),
        (9, at(11, 12), "payment", invoice["c"], -492, 0),
        (10, at(11, 14), "refund", invoice["c"], 492, 492),
        (11, at(11, 14), "credit_note", credit["c"], -492, 0),
        (12, at(11, 16), "charge", invoice["bandwidth"], 221, 221),
        (13, at(11, 16), "charge", invoice["transcoding"], 185, 406),
        (14, at(11, 20), "credit_note", credit["transcoding"], -185, 221),
    ]
    first_payment = statement.lines.get(position=1).description
    september_invoices = [c.invoice.number for c in september]
    assert first_payment == (
        f"Payment received for 2 charges: {', '.join(september_invoices)}"
    )
    assert (
        statement.opening_due_cents,
        statement.charges_cents,  # 1230 + 2460 + 492 + 221 + 185
        statement.payments_cents,  # 480 + 1230 + 2460 + 492
        statement.refunds_cents,  # 500 + 492
        statement.credits_cents,  # 500 + 492 + 185
        statement.closing_due_cents,
    ) == (480, 4588, 4662, 992, 1177, 221)
    # Due at the month end: October's bandwidth, still pending.
    assert (
        statement.closing_due_cents
        == due_at_month_end
        == amount_due_at(account=account, at=NOVEMBER.ends_at)
        == 221
    )
    assert (statement.buyer_name, statement.currency, statement.issued_at) == (
        account.name,
        "USD",
        at(1, 2, year=2027),
    )
    # Nobody else had anything in November.
    assert not Statement.objects.exclude(account=account).exists()

    december = issue_statements(period=DECEMBER, at=at(1, 2, year=2027))
    next_month = december.statements[0]
    assert next_month.opening_due_cents == statement.closing_due_cents == 221
    assert [
        (line.kind, line.amount_cents, line.balance_cents)
        for line in next_month.lines.all()
    ] == [("payment", -221, 0), ("charge", 861, 861), ("payment", -861, 0)]
    assert next_month.closing_due_cents == 0


def test_the_statement_issued_late_says_what_it_said_at_the_month_end(november):
    account = november["account"]
    with frozen(NOVEMBER.ends_at):
        on_time = statement_lines(account=account, period=NOVEMBER)

    pay(account, at(12, 5))
    buy(account, 700, at(12, 6), "late")
    refund(november["a"], at(12, 7))
    issue_statements(period=NOVEMBER, at=at(12, 8))

    statement = Statement.objects.get(account=account)
    assert statement.closing_due_cents == on_time.closing_due_cents == 221
    assert [
        (line.at, line.kind, line.amount_cents, line.balance_cents)
        for line in statement.lines.all()
    ] == [
        (line.at, line.kind, line.amount_cents, line.balance_cents)
        for line in on_time.lines
    ]


def test_rerunning_the_month_writes_nothing_more(november):
    first = issue_statements(period=NOVEMBER, at=at(12, 1, 1))
    second = issue_statements(period=NOVEMBER, at=at(12, 2))

    assert (first.issued, first.already_issued) == (1, 0)
    assert (second.issued, second.already_issued) == (0, 1)
    assert Statement.objects.count() == 1


def test_a_run_that_loses_a_race_counts_the_winners_statement(november, monkeypatch):
    """Two runs both saw no statement yet: the second insert meets the unique
    constraint, is rolled back alone, and counts as already issued."""
    issue_statements(period=NOVEMBER, at=at(12, 1, 1))
    drafts = statement_reads.statement_drafts

    def blind(*, period, skip_account_ids):  # read before the winner committed
        return drafts(period=period)

    monkeypatch.setattr(statement_service, "statement_drafts", blind)

    late = issue_statements(period=NOVEMBER, at=at(12, 1, 2))

    assert (late.issued, late.already_issued) == (0, 1)
    assert Statement.objects.count() == 1
    assert Statement.objects.get().issued_at == at(12, 1, 1)


def test_a_month_not_over_is_refused(november):
    with pytest.raises(PeriodNotOver) as excinfo:
        issue_statements(period=NOVEMBER, at=datetime(2026, 11, 30, 23, 59, tzinfo=UTC))

    assert excinfo.value.code == "period_not_over"
    assert "2026-11 has not ended yet" in excinfo.value.message
    assert not Statement.objects.exists()
    # From its last instant on, it is issued.
    assert issue_statements(period=NOVEMBER, at=NOVEMBER.ends_at).issued == 1


def test_accounts_without_activity_get_no_statement(irish_vat, settings):
    with frozen(at(11, 2)):
        quiet = personal_account()
        declined = personal_account()
    settings.BILLING_SANDBOX_DECLINE = True
    charge = buy(declined, 1000, at(11, 4), "declined")  # a failed charge
    assert charge.status == ChargeRecord.Status.FAILED

    run = issue_statements(period=NOVEMBER, at=at(12, 1))

    assert run.issued == 0
    assert not Statement.objects.filter(account__in=[quiet, declined]).exists()


def test_an_amount_due_from_before_the_month_is_activity_enough(irish_vat):
    """September's overage, charged on 1 October and pending all November:
    an opening amount, no lines."""
    with frozen(at(9, 1, 0)):
        account = personal_account()
        give_overage_consent(
            account=account,
            meter=meter("bandwidth"),
            cap_cents=10_000,
            recurring=True,
            actor=owner_of(account),
        )
    with frozen(at(9, 15)):
        record_usage(account, "bandwidth", 15 * GB)
    close(SEPTEMBER, at(10, 1, 2))

    run = issue_statements(period=NOVEMBER, at=at(12, 1))

    (statement,) = run.statements
    assert (statement.opening_due_cents, statement.closing_due_cents) == (111, 111)
    assert not statement.lines.exists()


def test_charges_from_before_documents_existed():
    """A void charge without a credit note was never due; a paid charge
    without a paid_at was paid when written; a failed one is no activity."""
    with frozen(at(11, 1)):
        account = personal_account()
    ChargeRecordFactory(
        account=account, amount_cents=700, status="void", created_at=at(11, 2)
    )
    ChargeRecordFactory(
        account=account, amount_cents=300, status="paid", created_at=at(11, 3)
    )
    ChargeRecordFactory(
        account=account, amount_cents=900, status="failed", created_at=at(11, 4)
    )
    ChargeRecordFactory(
        account=account, amount_cents=50, status="pending", created_at=at(11, 5)
    )

    draft = statement_lines(account=account, period=NOVEMBER)

    assert [
        (line.kind, line.amount_cents, line.balance_cents) for line in draft.lines
    ] == [
        ("charge", 300, 300),
        ("payment", -300, 0),
        ("charge", 50, 50),
    ]
    assert draft.closing_due_cents == 50 == outstanding_balance_cents(account=account)
    assert amount_due_at(account=account, at=DECEMBER.starts_at) == 50


def test_the_months_facts_are_read_in_four_queries_for_any_number_of_accounts(
    django_assert_num_queries,
):
    with frozen(at(11, 1)):
        accounts = [personal_account() for _ in range(5)]
    for account in accounts:
        ChargeRecordFactory(account=account, amount_cents=100, created_at=at(10, 2))
        ChargeRecordFactory(
            account=account, amount_cents=200, created_at=at(11, 2), paid=True
        )

    with django_assert_num_queries(4):
        drafts = statement_drafts(period=NOVEMBER)

    assert [d.account_id for d in drafts] == sorted(a.pk for a in accounts)
    assert {(d.opening_due_cents, d.closing_due_cents) for d in drafts} == {(100, 100)}


def test_issuing_costs_a_few_queries_per_account(django_assert_max_num_queries):
    with frozen(at(11, 1)):
        accounts = [personal_account() for _ in range(6)]
    for account in accounts:
        ChargeRecordFactory(account=account, amount_cents=100, created_at=at(11, 2))

    # 5 to read and look up; per account: the buyer's details and e-mail
    # and the statement with its lines in a savepoint.
    with django_assert_max_num_queries(5 + 6 * len(accounts)):
        run = issue_statements(period=NOVEMBER, at=at(12, 1))

    assert run.issued == 6
