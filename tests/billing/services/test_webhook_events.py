"""Each change the platform is told about lands in the outbox once, with its
payload, and reaches a real receiver signed (tasks run in process here)."""

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
import time_machine
from django.db import DatabaseError, transaction
from standardwebhooks.webhooks import Webhook

from billing.models import Pack, WebhookDelivery, WebhookEvent
from billing.services.accounts import set_account_block
from billing.services.consents import give_overage_consent
from billing.services.expirations import sweep_expirations
from billing.services.grants import revoke_grant
from billing.services.job_slots import allocate_job_slot
from billing.services.packs import purchase_pack
from billing.services.periods import close_billing_period
from billing.services.refunds import refund_charge
from billing.services.webhook_events import EventSpec, record_events
from billing.units import GB, Period
from tests.factories.accounts import UserFactory
from tests.factories.billing import (
    GrantFactory,
    WebhookEndpointFactory,
    company_account,
    meter,
    owner_of,
    personal_account,
    record_usage,
)

pytestmark = pytest.mark.django_db

AT = datetime(2026, 4, 16, 12, tzinfo=UTC)


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    """Run what a change queues after its commit (the in-process queue)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, is_superuser=True)


use = partial(record_usage, at=AT)


def told(type: str, account=None) -> list[dict]:
    """The payloads of the events of ``type`` in the outbox, oldest first."""
    events = WebhookEvent.objects.filter(type=type).order_by("pk")
    if account is not None:
        events = events.filter(account=account)
    return [event.data for event in events]


def buy(account, code: str, *, key: str):
    return purchase_pack(
        account=account,
        pack=Pack.objects.get(code=code),
        actor=owner_of(account),
        idempotency_key=key,
    )


@pytest.mark.time_machine(AT)
def test_crossing_80_percent_sends_one_signed_quota_warning(receiver, after_commit):
    endpoint = WebhookEndpointFactory(url=receiver.url)
    account = personal_account()
    account.external_id = "user-42"
    account.save()

    with after_commit():
        use(account, "bandwidth", 9 * GB // 2)  # 4.5 of 5 GB
    with after_commit():
        use(account, "bandwidth", 1)  # still warning: told once a period

    (request,) = receiver.requests
    assert request.headers["webhook-id"].startswith("evt_")
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload["type"] == "quota.warning"
    assert payload["timestamp"].startswith("2026-04-16T12:00:")
    assert payload["data"] == {
        "account": "user-42",
        "meter": "bandwidth",
        "unit": "byte",
        "period_start": "2026-04-01",
        "period_end": "2026-05-01",
        "state": "warning",
        "used": 9 * GB // 2,
        "limit": 5 * GB,
        "percent": 90.0,
    }
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.attempts.get().status_code == 200


@pytest.mark.time_machine(AT)
def test_a_rolled_back_change_sends_nothing(receiver, after_commit):
    WebhookEndpointFactory(url=receiver.url)
    account = personal_account()

    with after_commit(), pytest.raises(RuntimeError), transaction.atomic():
        use(account, "bandwidth", 6 * GB)
        raise RuntimeError("the caller fails after the write")

    assert receiver.requests == []
    assert not WebhookEvent.objects.exists()


@pytest.mark.time_machine(AT)
def test_an_endpoint_gets_only_the_types_it_asked_for(receiver, after_commit):
    WebhookEndpointFactory(url=receiver.url, event_types=["quota.exceeded"])
    account = personal_account()

    with after_commit():
        use(account, "bandwidth", 9 * GB // 2)  # warning: not wanted
    with after_commit():
        use(account, "bandwidth", GB)  # exceeded

    assert [r.payload["type"] for r in receiver.requests] == ["quota.exceeded"]


@pytest.mark.time_machine(AT)
def test_overage_and_the_block_at_the_cap_are_told_once_each(after_commit):
    account = personal_account()
    with after_commit():
        use(account, "bandwidth", 5 * GB)
    give_overage_consent(
        account=account,
        meter=meter("bandwidth"),
        cap_cents=100,
        recurring=False,
        actor=account.user,
    )
    later = AT + timedelta(minutes=1)  # usage after the consent is billable
    with after_commit():
        use(account, "bandwidth", 5 * GB // 9, at=later)  # 5c
    with after_commit():
        use(account, "bandwidth", 20 * GB, at=later)  # $1.80 > $1

    assert [d["state"] for d in told("quota.exceeded", account)] == ["exceeded"]
    (started,) = told("quota.overage_started", account)
    assert started["overage"]["cap_cents"] == 100
    (blocked,) = told("quota.blocked", account)
    assert blocked["overage"]["cap_cents"] == 100
    assert blocked["overage"]["accrued_cents"] >= 100  # as GET /quotas says
    assert blocked["overage"]["billable_cents"] == 100  # the cap bounds the bill


@pytest.mark.time_machine(AT)
def test_buying_a_pack_when_over_the_limit_resolves_it(after_commit):
    account = personal_account()
    with after_commit():
        use(account, "bandwidth", 6 * GB)
    assert len(told("quota.exceeded", account)) == 1

    with after_commit():
        result = buy(account, "bandwidth-100gb-once", key="buy-1")

    (completed,) = told("purchase.completed", account)
    assert completed["purchase"]["id"] == result.purchase.pk
    assert completed["purchase"]["pack"] == "bandwidth-100gb-once"
    assert completed["purchase"]["grants"] == [
        {"meter": "bandwidth", "amount": 100 * GB}
    ]
    (resolved,) = told("quota.resolved", account)
    assert resolved["previous_state"] == "exceeded"
    assert resolved["state"] == "ok"
    assert resolved["limit"] == 105 * GB


@pytest.mark.time_machine(AT)
def test_a_storage_deletion_that_goes_back_under_the_limit_resolves_it(after_commit):
    account = personal_account()
    with after_commit():
        use(account, "storage", 3 * GB)
    assert [d["state"] for d in told("quota.exceeded", account)] == ["exceeded"]

    with after_commit():
        use(account, "storage", -2 * GB)

    (resolved,) = told("quota.resolved", account)
    assert (resolved["meter"], resolved["used"]) == ("storage", GB)
    with after_commit():
        use(account, "storage", -GB // 2)
    assert len(told("quota.resolved", account)) == 1  # once per return


def test_a_new_month_resolves_a_counter_that_was_over(after_commit):
    account = personal_account()
    with time_machine.travel(AT), after_commit():
        use(account, "bandwidth", 6 * GB)
    with time_machine.travel(datetime(2026, 5, 1, 0, 5, tzinfo=UTC)):
        sweep_expirations()
        sweep_expirations()  # idempotent

    (resolved,) = told("quota.resolved", account)
    assert resolved["period_start"] == "2026-05-01"
    assert (resolved["used"], resolved["previous_state"]) == (0, "exceeded")


@pytest.mark.time_machine(AT)
def test_a_staff_block_and_its_lifting_are_told(staff, after_commit):
    account = personal_account()
    with after_commit():
        set_account_block(account=account, blocked=True, actor=staff, reason="abuse")
    assert {d["meter"] for d in told("quota.blocked", account)} == {
        "storage",
        "bandwidth",
        "transcoding",
    }
    with after_commit():
        set_account_block(account=account, blocked=False, actor=staff, reason="ok")

    assert {d["meter"] for d in told("quota.resolved", account)} == {
        "storage",
        "bandwidth",
        "transcoding",
    }


@pytest.mark.time_machine(AT)
def test_slot_suspension_and_reactivation_name_the_jobs(staff, after_commit):
    account = company_account()
    grant = GrantFactory(account=account, meter=meter("job_slots"), amount=2)
    for ref in ("job-a", "job-b", "job-c", "job-d"):
        allocate_job_slot(account=account, job_ref=ref)

    with after_commit():
        revoke_grant(grant=grant, actor=staff)
    (suspended,) = told("job_slot.suspended", account)
    assert suspended["job_ids"] == ["job-c", "job-d"]
    assert (suspended["used"], suspended["limit"]) == (2, 2)

    with after_commit():
        buy(account, "slots-5-once", key="slots")
    (reactivated,) = told("job_slot.reactivated", account)
    assert reactivated["job_ids"] == ["job-c", "job-d"]
    assert (reactivated["used"], reactivated["limit"]) == (4, 7)


@pytest.mark.time_machine(AT)
def test_a_refund_is_told_with_the_amount_paid_back(staff, after_commit):
    account = personal_account()
    result = buy(account, "storage-50gb-once", key="buy")

    refund = refund_charge(
        charge=result.charge,
        actor=staff,
        amount_cents=500,
        customer_reason="Bought by mistake",
    )

    (refunded,) = told("charge.refunded", account)
    assert refunded["charge"]["id"] == result.charge.pk
    assert refunded["refunded_cents"] == 500
    assert refunded["refund"]["id"] == refund.pk
    assert refunded["refund"]["amount_cents"] == -500
    assert refunded["reason"] == "Bought by mistake"
    assert refunded["purchase_id"] == result.purchase.pk


def test_expiry_reminders_and_the_expiry_are_told_once(after_commit):
    account = personal_account()
    with time_machine.travel(AT):
        result = buy(account, "storage-50gb-sub", key="buy")
    expires = result.purchase.expires_at

    for days_before in (7, 1):
        with time_machine.travel(expires - timedelta(days=days_before, hours=-1)):
            sweep_expirations()
            sweep_expirations()
    with time_machine.travel(expires + timedelta(minutes=5)):
        sweep_expirations()
        sweep_expirations()

    assert len(told("purchase.expiring", account)) == 2
    (expired,) = told("purchase.expired", account)
    assert expired["purchase"]["expires_at"] == expires.isoformat().replace(
        "+00:00", "Z"
    )
    event = WebhookEvent.objects.get(type="purchase.expired")
    assert event.occurred_at == expires  # when it happened, not when swept


def test_closing_a_period_tells_each_account_once_with_its_overage():
    account = personal_account()
    with time_machine.travel(AT):
        use(account, "bandwidth", 5 * GB)
        give_overage_consent(
            account=account,
            meter=meter("bandwidth"),
            cap_cents=10_000,
            recurring=False,
            actor=account.user,
        )
        later = AT + timedelta(minutes=1)
        use(account, "bandwidth", 10 * GB, at=later)  # x $0.09
    closed_at = datetime(2026, 5, 4, tzinfo=UTC)
    with time_machine.travel(closed_at):
        close_billing_period(period=Period(AT.date().replace(day=1)), at=closed_at)
        close_billing_period(period=Period(AT.date().replace(day=1)), at=closed_at)

    (closed,) = told("period.closed", account)
    assert (closed["period_start"], closed["period_end"]) == (
        "2026-04-01",
        "2026-05-01",
    )
    (charge,) = closed["overage_charges"]
    assert charge["meter"] == "bandwidth"
    assert closed["overage_total_cents"] == charge["amount_cents"] >= 90


@pytest.mark.time_machine(AT)
def test_an_event_once_written_cannot_be_changed():
    (event,) = record_events(
        specs=[EventSpec(type="period.closed", account_id=None, occurred_at=AT)]
    )
    with pytest.raises(DatabaseError), transaction.atomic():
        WebhookEvent.objects.filter(pk=event.pk).update(data={"forged": True})
    event.refresh_from_db()
    assert event.data == {"account": None}


@pytest.mark.time_machine(AT)
def test_a_deletion_back_to_90_percent_resolves_at_once(after_commit):
    account = personal_account()
    with after_commit():
        use(account, "storage", 17 * GB // 10)  # warning raised
    with after_commit():
        use(account, "storage", GB)  # 2.7 of 2 GB
    with after_commit():
        use(account, "storage", -9 * GB // 10)  # 1.8 of 2 GB

    (resolved,) = told("quota.resolved", account)
    assert (resolved["state"], resolved["used"]) == ("warning", 18 * GB // 10)
