"""issue_statements: the previous month by default, idempotent, clear errors."""

import io
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.core.management import CommandError, call_command

from billing.models import Statement
from tests.factories.billing import ChargeRecordFactory, personal_account

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("issue_statements", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def customers():
    """Two accounts with a charge in November 2026, one also in October."""
    with time_machine.travel(datetime(2026, 10, 1, tzinfo=UTC), tick=False):
        first, second = personal_account(), personal_account()
    ChargeRecordFactory(account=first, created_at=datetime(2026, 10, 20, tzinfo=UTC))
    for account in (first, second):
        ChargeRecordFactory(
            account=account, created_at=datetime(2026, 11, 20, tzinfo=UTC)
        )
    return first, second


@time_machine.travel(datetime(2026, 12, 3, 4, tzinfo=UTC), tick=False)
def test_without_a_period_every_ended_month_is_issued_once(customers):
    first = run()
    again = run()

    assert first == (
        "Issued 1 statement for 2026-10 (0 already issued)\n"
        "Issued 2 statements for 2026-11 (0 already issued)\n"
    )
    assert again == (
        "Issued 0 statements for 2026-10 (1 already issued)\n"
        "Issued 0 statements for 2026-11 (2 already issued)\n"
    )
    assert Statement.objects.count() == 3


@time_machine.travel(datetime(2026, 12, 3, 4, tzinfo=UTC), tick=False)
def test_a_missed_month_is_caught_up_by_the_next_run(customers):
    run("--period", "2026-10")  # November's run on 1 December never happened

    assert run() == (
        "Issued 0 statements for 2026-10 (1 already issued)\n"
        "Issued 2 statements for 2026-11 (0 already issued)\n"
    )


@time_machine.travel(datetime(2027, 1, 1, 0, 30, tzinfo=UTC), tick=False)
def test_january_issues_december_of_the_year_before(customers):
    # December had no fact, but both accounts owed their pending charges.
    assert (
        run().splitlines()[-1] == "Issued 2 statements for 2026-12 (0 already issued)"
    )


@time_machine.travel(datetime(2026, 12, 3, 4, tzinfo=UTC), tick=False)
def test_no_charges_no_statements():
    assert run() == "No charges yet: no statements to issue\n"


@time_machine.travel(datetime(2026, 12, 3, 4, tzinfo=UTC), tick=False)
def test_a_period_issues_that_month(customers):
    assert run("--period", "2026-10") == (
        "Issued 1 statement for 2026-10 (0 already issued)\n"
    )
    statement = Statement.objects.get()
    assert (statement.account, statement.period_start) == (
        customers[0],
        date(2026, 10, 1),
    )


@time_machine.travel(datetime(2026, 12, 3, 4, tzinfo=UTC), tick=False)
@pytest.mark.parametrize("bad", ["2026-13", "Nov 2026", "2026-1", ""])
def test_a_bad_period_is_a_clear_command_error(bad):
    with pytest.raises(CommandError, match="--period must look like 2026-10"):
        run("--period", bad)


@time_machine.travel(datetime(2026, 12, 3, 4, tzinfo=UTC), tick=False)
def test_the_current_month_is_refused(customers):
    with pytest.raises(CommandError, match="2026-12 has not ended yet"):
        run("--period", "2026-12")
    assert not Statement.objects.exists()
