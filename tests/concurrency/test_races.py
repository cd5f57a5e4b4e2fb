"""Races on the write paths: many threads, one tenant, the invariant holds.

Each test starts its threads together (see ``run_concurrently``) and then
checks the database: no oversubscription, no double charge, no lost update.
The seeded catalogue that each transactional test's flush removes is put
back by a fixture in conftest.
"""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from billing.errors import QuotaExceeded, UsageBatchRejected
from billing.models import (
    ChargeRecord,
    ClosedPeriod,
    GaugeLevel,
    Grant,
    JobSlot,
    Purchase,
    UsageCounter,
    UsageEvent,
)
from billing.selectors import job_slot_limit, outstanding_balance_cents
from billing.services.grants import create_adjustment_grant
from billing.services.job_slots import allocate_job_slot, release_job_slot
from billing.services.packs import purchase_pack
from billing.services.payments import (
    PaymentResult,
    SandboxGateway,
    pay_outstanding_balance,
)
from billing.services.periods import close_billing_period
from billing.services.usage import (
    UsageEventInput,
    record_usage_event,
    record_usage_events,
)
from billing.units import GB, period_of
from tests.factories.billing import (
    ChargeRecordFactory,
    JobSlotFactory,
    OverageConsentFactory,
    PackFactory,
    company_account,
    meter,
    owner_of,
    personal_account,
)

pytestmark = pytest.mark.django_db(transaction=True)


class RecordingGateway(SandboxGateway):
    """The sandbox, slowed down a little and keeping every charge it made."""

    calls: list[tuple[int, str, str]] = []
    lock = threading.Lock()

    def charge(
        self, *, amount_cents: int, currency: str, reference: str
    ) -> PaymentResult:
        time.sleep(0.02)  # widen the window between check and write
        result = super().charge(
            amount_cents=amount_cents, currency=currency, reference=reference
        )
        with self.lock:
            self.calls.append((amount_cents, reference, result.reference))
        return result


@pytest.fixture
def gateway(settings):
    RecordingGateway.calls = []
    settings.BILLING_PAYMENT_GATEWAY = f"{__name__}.RecordingGateway"
    return RecordingGateway


def company_with_three_free_slots():
    """Free plan (2 slots) plus a 1-slot staff adjustment: 3 available."""
    account = company_account()
    create_adjustment_grant(
        account=account,
        meter=meter("job_slots"),
        amount=1,
        reason="goodwill",
        actor=None,
    )
    assert job_slot_limit(account=account) == 3
    return account


def test_thirty_allocations_for_three_free_slots_give_exactly_three(
    run_concurrently,
):
    account = company_with_three_free_slots()

    outcomes = run_concurrently(
        lambda i: allocate_job_slot(account=account, job_ref=f"job-{i}"), threads=30
    )

    outcomes.assert_only(QuotaExceeded)
    assert len(outcomes.results) == 3
    assert all(r.created for r in outcomes.results)
    assert outcomes.error_types() == {QuotaExceeded: 27}
    active = JobSlot.objects.filter(account=account, status=JobSlot.Status.ACTIVE)
    assert active.count() == 3
    assert set(active.values_list("job_ref", flat=True)) == {
        r.slot.job_ref for r in outcomes.results
    }
    assert JobSlot.objects.filter(account=account).count() == 3


def test_allocating_the_same_job_from_many_threads_holds_one_slot(run_concurrently):
    account = company_with_three_free_slots()

    outcomes = run_concurrently(
        lambda i: allocate_job_slot(account=account, job_ref="job-same"), threads=15
    )

    outcomes.assert_only()
    assert sorted(r.created for r in outcomes.results) == [False] * 14 + [True]
    assert len({r.slot.pk for r in outcomes.results}) == 1
    assert JobSlot.objects.filter(account=account).count() == 1


def test_allocations_racing_releases_never_exceed_the_limit(run_concurrently):
    account = company_with_three_free_slots()
    JobSlotFactory.create_batch(2, account=account)  # one slot left to fight for
    workers = 12
    finished: list[int] = []
    done = threading.Event()
    seen: list[int] = []

    def churn(i: int) -> tuple[int, int]:
        if i == workers:  # a watcher sampling the committed count meanwhile
            while True:
                seen.append(account.job_slots.active().count())
                if done.is_set():
                    return 0, 0
        try:
            allocated = released = 0
            for k in range(6):
                job_ref = f"job-{i}-{k}"
                try:
                    allocate_job_slot(account=account, job_ref=job_ref)
                except QuotaExceeded:
                    continue
                allocated += 1
                released += release_job_slot(account=account, job_ref=job_ref)
            return allocated, released
        finally:
            finished.append(i)
            if len(finished) == workers:
                done.set()

    try:
        outcomes = run_concurrently(churn, threads=workers + 1)
    finally:
        done.set()

    outcomes.assert_only()  # churn itself catches the refusals
    allocated = sum(a for a, _ in outcomes.results)
    released = sum(r for _, r in outcomes.results)
    assert allocated >= 1
    assert allocated == released
    assert seen and max(seen) <= 3
    assert account.job_slots.active().count() == 2
    assert not account.job_slots.filter(status=JobSlot.Status.SUSPENDED).exists()
    assert account.job_slots.count() == 2 + allocated


def test_one_purchase_token_submitted_twenty_times_buys_once(run_concurrently, gateway):
    account = personal_account()
    user = owner_of(account)
    pack = PackFactory(lines={"storage": 10 * GB}, price_cents=2000)

    outcomes = run_concurrently(
        lambda i: purchase_pack(
            account=account, pack=pack, actor=user, idempotency_key="same"
        ),
        threads=20,
    )

    outcomes.assert_only()
    assert len(outcomes.results) == 20
    purchase = Purchase.objects.get(account=account)
    assert {r.purchase.pk for r in outcomes.results} == {purchase.pk}
    assert sorted(r.created for r in outcomes.results) == [False] * 19 + [True]
    charge = ChargeRecord.objects.get(account=account)
    assert {r.charge.pk for r in outcomes.results} == {charge.pk}
    assert (charge.status, charge.amount_cents) == (ChargeRecord.Status.PAID, 2000)
    assert Grant.objects.filter(account=account).count() == 1
    assert Grant.objects.get(account=account).purchase == purchase
    assert [amount for amount, _, _ in gateway.calls] == [2000]


def test_fifty_concurrent_storage_events_add_up_exactly(run_concurrently):
    account = personal_account()
    sizes = [(i + 1) * 1_000_003 for i in range(50)]

    outcomes = run_concurrently(
        lambda i: record_usage_event(
            event_id=f"store-{i}", account=account, meter="storage", quantity=sizes[i]
        ),
        threads=50,
    )

    outcomes.assert_only()
    assert [(r.accepted, r.duplicates) for r in outcomes.results] == [(1, 0)] * 50
    assert UsageEvent.objects.filter(account=account).count() == 50
    level = GaugeLevel.objects.get(account=account, meter=meter("storage"))
    assert level.level == sum(sizes)


def test_concurrent_deletes_never_take_storage_below_zero(run_concurrently):
    account = personal_account()
    record_usage_event(event_id="fill", account=account, meter="storage", quantity=10)

    outcomes = run_concurrently(
        lambda i: record_usage_event(
            event_id=f"delete-{i}", account=account, meter="storage", quantity=-1
        ),
        threads=30,
    )

    outcomes.assert_only(UsageBatchRejected)
    assert len(outcomes.results) == 10
    assert {e.details[0]["code"] for e in outcomes.errors} == {"negative_level"}
    assert len(outcomes.errors) == 20
    assert GaugeLevel.objects.get(account=account).level == 0
    assert UsageEvent.objects.filter(account=account).count() == 11


def test_one_batch_sent_by_ten_threads_is_recorded_once(run_concurrently):
    account = personal_account()
    stamp = timezone.now() - timedelta(minutes=1)
    batch = [
        UsageEventInput(
            id=f"evt-{i}",
            account=account,
            meter="bandwidth" if i % 2 else "storage",
            quantity=(i + 1) * 10_000_019,
            timestamp=stamp,
        )
        for i in range(40)
    ]
    bandwidth = sum(e.quantity for e in batch if e.meter == "bandwidth")
    storage = sum(e.quantity for e in batch if e.meter == "storage")

    outcomes = run_concurrently(lambda i: record_usage_events(events=batch), threads=10)

    outcomes.assert_only()
    totals = sorted((r.accepted, r.duplicates) for r in outcomes.results)
    assert totals == [(0, 40)] * 9 + [(40, 0)]
    assert sum(r.accepted for r in outcomes.results) == len(batch)
    assert UsageEvent.objects.filter(account=account).count() == len(batch)
    counter = UsageCounter.objects.get(account=account, meter=meter("bandwidth"))
    assert counter.used == bandwidth
    assert GaugeLevel.objects.get(account=account).level == storage


def test_batches_spanning_several_accounts_neither_deadlock_nor_lose_updates(
    run_concurrently,
):
    accounts = [personal_account() for _ in range(4)]

    def send(i: int):
        # Each batch names its accounts in a different order.
        names = [accounts[(i + k) % 4] for k in (0, 1, 2)][:: 1 if i % 2 else -1]
        return record_usage_events(
            events=[
                UsageEventInput(
                    id=f"multi-{i}-{k}", account=a, meter="storage", quantity=1000
                )
                for k, a in enumerate(names)
            ]
        )

    outcomes = run_concurrently(send, threads=24)

    outcomes.assert_only()
    levels = dict(
        GaugeLevel.objects.filter(account__in=accounts).values_list(
            "account_id", "level"
        )
    )
    # 24 batches x 3 accounts, spread evenly over 4 accounts: 18 each.
    assert levels == {a.pk: 18 * 1000 for a in accounts}


def test_paying_the_balance_from_ten_threads_pays_once(run_concurrently, gateway):
    account = personal_account()
    user = owner_of(account)
    ChargeRecordFactory.create_batch(3, account=account, amount_cents=1250)
    balance = outstanding_balance_cents(account=account)
    assert balance == 3750

    outcomes = run_concurrently(
        lambda i: pay_outstanding_balance(account=account, actor=user), threads=10
    )

    outcomes.assert_only()
    assert sum(p.paid_cents for p in outcomes.results) == balance
    assert sorted(p.charges for p in outcomes.results) == [0] * 9 + [3]
    assert [amount for amount, _, _ in gateway.calls] == [balance]
    charges = ChargeRecord.objects.filter(account=account)
    assert set(charges.values_list("status", flat=True)) == {"paid"}
    assert len(set(charges.values_list("gateway_reference", flat=True))) == 1
    assert outstanding_balance_cents(account=account) == 0


@pytest.mark.time_machine(datetime(2027, 2, 5, 12, tzinfo=UTC))
def test_closing_a_period_from_many_threads_charges_overage_once(run_concurrently):
    account = personal_account()
    last_month = period_of(datetime(2027, 1, 15, tzinfo=UTC))
    OverageConsentFactory(
        account=account,
        meter=meter("bandwidth"),
        cap_cents=10_000,
        period_start=last_month.start,
        given_at=last_month.starts_at,
    )
    record_usage_event(
        event_id="late-month",
        account=account,
        meter="bandwidth",
        quantity=7 * GB,
        timestamp=last_month.ends_at - timedelta(hours=1),
    )

    outcomes = run_concurrently(
        lambda i: close_billing_period(period=last_month, at=timezone.now()),
        threads=8,
    )

    outcomes.assert_only()
    assert sum(r.charges_created for r in outcomes.results) == 1
    charge = ChargeRecord.objects.get(account=account)
    assert (charge.kind, charge.amount_cents) == ("overage", 18)  # 2 GB x 9c
    assert charge.period_start == last_month.start
    assert ClosedPeriod.objects.filter(period_start=last_month.start).count() == 1
    assert ChargeRecord.objects.count() == 1
