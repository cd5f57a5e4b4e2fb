"""Usage ingestion without an account-wide lock: batches race, facts hold.

Ingestion writes one insert of the events, one set-based increment of the
period counters and one conditional update of the gauge levels per batch,
touching rows in a fixed key order. These tests send many batches at once
and check the invariants from the database: no deadlock, no lost or double
count, a gauge never below zero, each alert raised and e-mailed once.
Replaying one batch from many threads is covered in test_races.py
(``test_one_batch_sent_by_ten_threads_is_recorded_once``).
"""

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest
from django.db.models import Count, Sum

from billing.errors import UsageBatchRejected
from billing.models import Alert, GaugeLevel, UsageCounter, UsageEvent
from billing.services.usage import (
    UsageEventInput,
    record_usage_event,
    record_usage_events,
)
from billing.units import GB, period_of
from tests.factories.billing import PlatformAccountFactory, meter, personal_account

MB = 10**6
# Mid-month, mid-day: no batch can straddle a period or a day boundary.
AT = datetime(2026, 4, 16, 12, tzinfo=UTC)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.time_machine(AT),
]


def test_shuffled_batches_over_fifty_accounts_add_up_without_deadlock(
    run_concurrently,
):
    accounts = [PlatformAccountFactory() for _ in range(50)]
    rng = random.Random(20260416)
    batches: list[list[UsageEventInput]] = []
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for b in range(20):
        pairs = [(a, m) for a in accounts for m in ("bandwidth", "storage")]
        rng.shuffle(pairs)  # each batch touches the rows in its own order
        batch = []
        for k, (account, code) in enumerate(pairs):
            quantity = rng.randint(1, 10_000_000)
            expected[(account.external_id, code)] += quantity
            batch.append(
                UsageEventInput(
                    id=f"mix-{b}-{k}",
                    account=account.external_id,
                    meter=code,
                    quantity=quantity,
                )
            )
        batches.append(batch)

    outcomes = run_concurrently(
        lambda i: record_usage_events(events=batches[i], received_at=AT), threads=20
    )

    outcomes.assert_only()  # a deadlock or serialisation failure lands here
    assert [(r.accepted, r.duplicates) for r in outcomes.results] == [(100, 0)] * 20
    by_pk = {a.pk: a.external_id for a in accounts}
    stored = UsageEvent.objects.values("account_id", "meter__code").annotate(
        n=Count("id"), total=Sum("quantity")
    )
    assert {
        (by_pk[row["account_id"]], row["meter__code"]): (row["n"], row["total"])
        for row in stored
    } == {key: (20, total) for key, total in expected.items()}
    counters = UsageCounter.objects.filter(meter=meter("bandwidth"))
    assert {(by_pk[c.account_id], c.period_start): c.used for c in counters} == {
        (a.external_id, period_of(AT).start): expected[(a.external_id, "bandwidth")]
        for a in accounts
    }
    levels = GaugeLevel.objects.filter(meter=meter("storage"))
    assert {by_pk[g.account_id]: g.level for g in levels} == {
        a.external_id: expected[(a.external_id, "storage")] for a in accounts
    }


def test_a_batch_dipping_below_zero_midway_is_refused_whole_while_others_commit(
    run_concurrently,
):
    account = personal_account()
    record_usage_event(event_id="start", account=account, meter="storage", quantity=GB)
    # Thread 0's running sum is 6 GB, then -2 GB, then 8 GB: below zero at
    # index 1 even after every other batch (at most 57 MB in all) commits.
    dipping = [
        UsageEventInput(id=f"dip-{k}", account=account, meter="storage", quantity=q)
        for k, q in enumerate([5 * GB, -8 * GB, 10 * GB])
    ]
    growing = [
        [
            UsageEventInput(
                id=f"grow-{i}-{k}",
                account=account,
                meter="storage",
                quantity=i * MB + k * 1_001,
            )
            for k in range(3)
        ]
        for i in range(1, 20)
    ]

    def send(i: int):
        batch = dipping if i == 0 else growing[i - 1]
        return record_usage_events(events=batch, received_at=AT)

    outcomes = run_concurrently(send, threads=20)

    outcomes.assert_only(UsageBatchRejected)
    assert [o.index for o in outcomes if o.error is not None] == [0]
    [refusal] = outcomes.errors
    assert [(d["index"], d["code"]) for d in refusal.details] == [(1, "negative_level")]
    assert [(r.accepted, r.duplicates) for r in outcomes.results] == [(3, 0)] * 19
    assert not UsageEvent.objects.filter(event_id__startswith="dip-").exists()
    assert UsageEvent.objects.filter(event_id__startswith="grow-").count() == 19 * 3
    grown = sum(e.quantity for batch in growing for e in batch)
    level = GaugeLevel.objects.get(account=account, meter=meter("storage"))
    assert level.level == GB + grown


def test_alerts_of_a_limit_crossed_by_racing_batches_are_raised_and_mailed_once(
    run_concurrently, mailoutbox
):
    account = personal_account()  # Free plan: 5 GB of bandwidth a month
    # 20 batches of 300 MB: 4 GB (80%) is passed by the 14th to commit and
    # 5 GB (100%) by the 17th; several evaluations race to raise each alert.
    batches = [
        [
            UsageEventInput(
                id=f"bw-{i}-{k}", account=account, meter="bandwidth", quantity=150 * MB
            )
            for k in range(2)
        ]
        for i in range(20)
    ]

    outcomes = run_concurrently(
        lambda i: record_usage_events(events=batches[i], received_at=AT), threads=20
    )

    outcomes.assert_only()
    bandwidth = meter("bandwidth")
    counter = UsageCounter.objects.get(account=account, meter=bandwidth)
    assert counter.used == 6 * GB
    alerts = list(
        Alert.objects.filter(
            account=account, meter=bandwidth, period_start=period_of(AT).start
        )
    )
    kinds = Counter(alert.kind for alert in alerts)
    # An evaluation that first sees usage already past 100% raises only
    # "exceeded", so the 80% warning may be skipped, never doubled.
    assert set(kinds) <= {Alert.Kind.WARNING_80, Alert.Kind.EXCEEDED}
    assert kinds[Alert.Kind.EXCEEDED] == 1
    assert max(kinds.values()) == 1
    assert Alert.objects.filter(account=account).count() == len(alerts)

    def mails_about(kind: str) -> int:
        subject = f"{Alert.Kind(kind).label}: {account.name}"
        return sum(subject in message.subject for message in mailoutbox)

    for alert in alerts:
        assert mails_about(alert.kind) == (1 if alert.emailed_at else 0)
    for kind in Alert.Kind.values:
        assert mails_about(kind) == kinds[kind]
