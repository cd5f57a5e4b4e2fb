"""Fixtures shared by the admin tests."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.test import TestCase

from billing.models import (
    Alert,
    ClosedPeriod,
    TaxRate,
    UsageSnapshot,
)
from billing.services.api_keys import create_api_key
from billing.services.documents import save_billing_details
from billing.services.job_slots import allocate_job_slot
from billing.services.refunds import refund_charge
from billing.services.snapshots import take_usage_snapshots
from billing.services.statements import issue_statements
from billing.services.usage import record_usage_event
from billing.units import GB, Period, period_of
from tests.factories.billing import (
    ChargeRecordFactory,
    GrantFactory,
    OverageConsentFactory,
    PlatformAccountFactory,
    WebhookEndpointFactory,
    company_account,
    meter,
    owner_of,
    personal_account,
)

from .helpers import (
    add_adjustment,
    buy,
)

# The rows are made on a fixed day, so the fixture is the same on any date.
POPULATED_AT = datetime(2026, 4, 16, 12, tzinfo=UTC)


@pytest.fixture
def populated() -> dict[str, object]:
    """At least one row of every model the admin shows."""
    with time_machine.travel(POPULATED_AT, tick=False):
        return _populate()


def _populate() -> dict[str, object]:
    WebhookEndpointFactory()  # the changes below queue deliveries to it
    person = personal_account()
    company = company_account()
    buy(person)
    buy(company, code="slots-5-once", key="k-slots")
    allocate_job_slot(account=company, job_ref="job-1")
    GrantFactory(account=person, meter=meter("bandwidth"))
    ChargeRecordFactory(account=person)
    OverageConsentFactory(account=person)
    with TestCase.captureOnCommitCallbacks(execute=True):  # the alert task
        record_usage_event(
            event_id="e-1", account=person, meter="bandwidth", quantity=int(5.5 * GB)
        )
    record_usage_event(event_id="e-2", account=person, meter="storage", quantity=GB)
    # Snapshot today as if the day were over: the accounts are new today.
    take_usage_snapshots(day=POPULATED_AT.date(), at=POPULATED_AT + timedelta(days=1))
    ClosedPeriod.objects.create(
        period_start=period_of(POPULATED_AT).previous().previous().start
    )
    PlatformAccountFactory()
    create_api_key(name="ops")
    add_adjustment(company)  # an audit entry
    assert Alert.objects.exists()  # 5.5 of 6 GB bandwidth: the 80% alert
    assert UsageSnapshot.objects.exists()
    _documents()
    return {"person": person, "company": company}


def _documents() -> None:
    """A rate, billing details, a credit note and a statement."""
    TaxRate.objects.create(country="IE", rate_percent=23, valid_from=date(2020, 1, 1))
    account = personal_account()
    save_billing_details(
        account=account, actor=owner_of(account), legal_name="Documents Ltd"
    )
    refund_charge(charge=buy(account, key="k-doc").charge, actor=None)
    # A month named outright, so the statement is the same on any day.
    march = Period(date(2025, 3, 1))
    ChargeRecordFactory(account=account, created_at=march.starts_at)
    issue_statements(period=march, at=datetime(2025, 4, 2, tzinfo=UTC))
