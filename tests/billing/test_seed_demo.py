import io
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db.models import Count, Max, Min
from django.test import RequestFactory
from django.utils import timezone

from accounts.models import Company, Membership, User
from billing.management.commands.seed_demo import LOGINS
from billing.models import (
    Account,
    ChargeRecord,
    Grant,
    Purchase,
    UsageEvent,
    UsageSnapshot,
)
from billing.selectors import account_quotas, job_slot_overview
from billing.services.usage import record_usage_event
from tests.factories.billing import personal_account

pytestmark = pytest.mark.django_db

EMAILS = [login.email for login in LOGINS]


def seed(**options) -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def state_of(account: Account, meter_code: str) -> str:
    return next(
        q.state for q in account_quotas(account=account) if q.meter.code == meter_code
    )


def personal(email: str) -> Account:
    return User.objects.get(email=email).billing_account


def company(name: str) -> Account:
    return Company.objects.get(name=name).billing_account


def row_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in [User, ChargeRecord, Purchase, Grant, UsageEvent, UsageSnapshot]
    }


@pytest.mark.time_machine(datetime(2026, 4, 16, 12, tzinfo=UTC))
def test_seed_demo_builds_every_login_state_and_six_months_of_history():
    # One seed serves every check: seeding takes seconds.
    output = seed()

    logins_work(output)
    personal_states_are_as_listed()
    companies_have_their_people_and_slots()
    ledger_has_every_kind_of_row()
    history_covers_six_months_up_to_yesterday()


def logins_work(output: str) -> None:
    for email in EMAILS:
        assert (
            authenticate(
                RequestFactory().post("/login/"), username=email, password="demo"
            )
            is not None
        ), email
        assert email in output
    assert User.objects.get(email="staff@example.com").is_superuser
    assert not User.objects.get(email="ok@example.com").is_staff


def personal_states_are_as_listed() -> None:
    ok_states = {q.state for q in account_quotas(account=personal("ok@example.com"))}
    assert ok_states == {"ok"}
    assert state_of(personal("warning@example.com"), "storage") == "warning"
    assert state_of(personal("exceeded@example.com"), "bandwidth") == "exceeded"
    assert state_of(personal("overage@example.com"), "bandwidth") == "overage"
    assert state_of(personal("blocked@example.com"), "bandwidth") == "blocked"


def companies_have_their_people_and_slots() -> None:
    acme, globex = company("Acme"), company("Globex")
    roles = dict(
        Membership.objects.filter(user__email="owner@example.com").values_list(
            "company__name", "role"
        )
    )
    assert roles == {"Acme": "owner", "Globex": "admin"}
    assert Membership.objects.get(user__email="member@example.com").role == "member"
    slots = job_slot_overview(account=acme)
    assert (slots.used, slots.limit) == (2, 2)
    assert (
        Grant.objects.active_at(timezone.now())
        .filter(account=globex, meter__code="job_slots")
        .exists()
    )


def ledger_has_every_kind_of_row() -> None:
    statuses = set(ChargeRecord.objects.values_list("status", flat=True))
    assert {"paid", "pending", "failed"} <= statuses
    refund = ChargeRecord.objects.get(kind=ChargeRecord.Kind.REFUND)
    assert refund.amount_cents == -refund.refund_of.amount_cents
    assert ChargeRecord.objects.filter(
        kind=ChargeRecord.Kind.OVERAGE, status="pending"
    ).exists()
    assert Purchase.objects.filter(kind=Purchase.Kind.RENEWAL).exists()
    # Globex's lapsed term, bought 40 days ago through the services.
    lapsed = Purchase.objects.get(
        idempotency_key="seed-demo:globex:slots-5-sub:first-term"
    )
    assert lapsed.status == Purchase.Status.COMPLETED
    assert lapsed.expires_at < timezone.now()
    assert lapsed.charges.get().status == ChargeRecord.Status.PAID


def history_covers_six_months_up_to_yesterday() -> None:
    today = timezone.now().date()
    span = UsageSnapshot.objects.aggregate(
        first=Min("day"), last=Max("day"), days=Count("day", distinct=True)
    )
    assert span["first"] <= today - timedelta(days=179)
    assert span["last"] == today - timedelta(days=1)
    assert span["days"] >= 180
    assert not UsageEvent.objects.filter(timestamp__gt=timezone.now()).exists()


@pytest.mark.time_machine(datetime(2026, 4, 16, 12, tzinfo=UTC))
def test_password_option_holds_and_a_second_run_creates_nothing():
    # One seed serves both checks: seeding takes seconds.
    seed(password="s3cret")
    for email in EMAILS:
        assert (
            authenticate(
                RequestFactory().post("/login/"), username=email, password="s3cret"
            )
            is not None
        ), email
    assert (
        authenticate(
            RequestFactory().post("/login/"), username="ok@example.com", password="demo"
        )
        is None
    )
    before = row_counts()

    again = seed(password="s3cret")
    with_default = seed()

    assert row_counts() == before
    assert "nothing created" in again
    for email in EMAILS:
        assert email in again
    assert "s3cret" in again
    # The logins keep their first password; the listing does not claim "demo".
    assert "(as seeded)" in with_default
    assert "  demo  " not in with_default


def test_a_database_with_real_usage_is_refused():
    record_usage_event(
        event_id="e-1", account=personal_account(), meter="bandwidth", quantity=10
    )

    with pytest.raises(CommandError, match="fresh database"):
        seed()

    assert not User.objects.filter(email__in=EMAILS).exists()
