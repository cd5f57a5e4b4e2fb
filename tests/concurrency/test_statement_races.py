"""Statement runs at once: one statement per account and month, whoever wins.

Threads start together (``run_concurrently``); each run reads which
statements exist before any is written, so most insert for the same
accounts, and the unique (account, month) constraint decides.
"""

from datetime import UTC, datetime

import pytest

from billing.models import Statement
from billing.services.statements import issue_statements
from billing.units import parse_period
from tests.factories.billing import ChargeRecordFactory, personal_account

pytestmark = pytest.mark.django_db(transaction=True)

NOVEMBER = parse_period("2026-11")


def test_concurrent_runs_write_each_accounts_statement_once(run_concurrently):
    accounts = [personal_account() for _ in range(8)]
    for account in accounts:
        ChargeRecordFactory(
            account=account,
            amount_cents=300,
            created_at=datetime(2026, 11, 10, tzinfo=UTC),
        )

    outcomes = run_concurrently(
        lambda i: issue_statements(
            period=NOVEMBER, at=datetime(2026, 12, 1, 1, i, tzinfo=UTC)
        ),
        threads=4,
    )

    outcomes.assert_only()
    assert Statement.objects.filter(period_start=NOVEMBER.start).count() == 8
    assert sum(run.issued for run in outcomes.results) == 8
    # Every run accounts for every account: written by it or by another.
    for run in outcomes.results:
        assert run.issued + run.already_issued == 8
    assert set(Statement.objects.values_list("closing_due_cents", flat=True)) == {300}
