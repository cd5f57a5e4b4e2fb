"""The periodic commands: thin, idempotent, clear about bad arguments."""

import io
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing.models import Alert, ChargeRecord, ClosedPeriod, UsageSnapshot
from billing.services.consents import give_overage_consent
from billing.services.usage import record_usage_event
from billing.units import GB, period_of
from tests.factories.billing import GrantFactory, meter, personal_account

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_close_billing_period_closes_a_month_once_its_grace_has_passed():
    with time_machine.travel(datetime(2027, 1, 10, 12, tzinfo=UTC), tick=False):
        account = personal_account()
        give_overage_consent(
            account=account,
            meter=meter("bandwidth"),
            cap_cents=10_000,
            recurring=True,
            actor=account.user,
        )
    with time_machine.travel(datetime(2027, 1, 20, 12, tzinfo=UTC), tick=False):
        record_usage_event(
            event_id="mid-month",
            account=account,
            meter="bandwidth",
            quantity=7 * GB,
            timestamp=datetime(2027, 1, 20, tzinfo=UTC),
        )
    # January ends at 1 Feb 00:00; the default grace is 72 hours.
    with time_machine.travel(datetime(2027, 2, 3, 23, 59, tzinfo=UTC), tick=False):
        too_early = run("close_billing_period")
    with time_machine.travel(datetime(2027, 2, 4, 0, 0, tzinfo=UTC), tick=False):
        first = run("close_billing_period")
        second = run("close_billing_period")

    assert "No month is due to close yet." in too_early
    assert "Closed 2027-01: 1 overage charge(s) created." in first
    assert "No month is due to close yet." in second
    charge = ChargeRecord.objects.get(account=account, kind="overage")
    assert charge.amount_cents == 18  # 2 GB past the 5 GB allowance at 9 cents a GB
    assert ClosedPeriod.objects.filter(period_start=date(2027, 1, 1)).count() == 1


def test_close_billing_period_with_a_period_closes_at_once_and_reruns_close_nothing():
    with time_machine.travel(datetime(2027, 2, 1, 0, 5, tzinfo=UTC), tick=False):
        first = run("close_billing_period", "--period", "2027-01")
        second = run("close_billing_period", "--period", "2027-01")

    assert "Closed 2027-01: 0 overage charge(s) created." in first
    assert "already closed" in second


@pytest.mark.time_machine(datetime(2027, 1, 20, 12, tzinfo=UTC))
def test_close_billing_period_refuses_the_running_month_and_bad_input():
    with pytest.raises(CommandError, match="has not ended"):
        run("close_billing_period", "--period", f"{period_of(timezone.now())}")
    with pytest.raises(CommandError, match="2026-10"):
        run("close_billing_period", "--period", "October")
    with pytest.raises(CommandError, match="2026-10"):
        run("close_billing_period", "--period", "2026-1")  # a month is two digits
    assert not ClosedPeriod.objects.exists()


@pytest.mark.time_machine(datetime(2027, 1, 20, 12, tzinfo=UTC))
def test_rebuild_usage_refuses_a_month_that_has_not_started_and_bad_input():
    with pytest.raises(CommandError, match="2027-02 has not started yet"):
        run("rebuild_usage", "--period", "2027-02")
    with pytest.raises(CommandError, match="2026-10"):
        run("rebuild_usage", "--period", "2027-13")
    with pytest.raises(CommandError, match="No billing account"):
        run("rebuild_usage", "--account", "nobody")


@pytest.mark.time_machine(datetime(2027, 1, 20, 12, tzinfo=UTC))
def test_take_usage_snapshots_writes_yesterday_once_for_accounts_that_existed():
    account = personal_account()
    account.created_at = timezone.now() - timedelta(days=3)
    account.save(update_fields=["created_at"])
    newcomer = personal_account()  # signed up today: nothing to snapshot for yesterday
    yesterday = timezone.now().date() - timedelta(days=1)

    first = run("take_usage_snapshots")
    second = run("take_usage_snapshots")

    rows = UsageSnapshot.objects.filter(account=account, day=yesterday)
    assert rows.count() == 3  # storage, bandwidth, transcoding for a personal account
    assert "3 row(s)" in first and "0 row(s)" in second
    assert not UsageSnapshot.objects.filter(account=newcomer).exists()


@pytest.mark.time_machine(datetime(2027, 1, 20, 12, tzinfo=UTC))
def test_take_usage_snapshots_refuses_unfinished_days_and_bad_dates():
    with pytest.raises(CommandError, match="not over yet"):
        run("take_usage_snapshots", "--date", f"{timezone.now().date()}")
    with pytest.raises(CommandError, match="2026-11-20"):
        run("take_usage_snapshots", "--date", "20/11/2026")
    assert not UsageSnapshot.objects.exists()


def test_sweep_expirations_reports_and_is_idempotent():
    grant = GrantFactory(expired=True)

    first = run("sweep_expirations")
    second = run("sweep_expirations")

    assert "expired grants: 1" in first and "expired grants: 0" in second
    assert Alert.objects.filter(account=grant.account, kind="expired").count() == 1
