"""The set-based ingestion and single-meter quota paths keep every rule.

PostgreSQL records a batch of distinct ids with one ``INSERT ... SELECT FROM
unnest`` before checking; other databases (and batches repeating an id) check
first, then insert. Alerts are evaluated after commit, for the rows a full
evaluation could alert on (screened by the plan allowance).
These tests pin that both paths, and the screen, give what the plain path
gives.
"""

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import TestCase

from billing.errors import UsageBatchRejected
from billing.models import Alert, GaugeLevel, UsageCounter, UsageEvent
from billing.selectors import account_quotas, authorize_usage, quota_status
from billing.services import usage
from billing.services.expirations import sweep_expirations
from billing.services.usage import UsageEventInput, record_usage_events
from billing.units import GB
from tests.factories.billing import (
    GrantFactory,
    OverageConsentFactory,
    company_account,
    meter,
    personal_account,
)

pytestmark = pytest.mark.django_db

AT = datetime(2025, 4, 15, 12, 0, tzinfo=UTC)
APRIL = date(2025, 4, 1)
_ids = itertools.count()


def event(account, meter_code, quantity, *, id=None, at=AT, **kwargs):
    return UsageEventInput(
        id=id or f"fp-{next(_ids)}",
        account=account,
        meter=meter_code,
        quantity=quantity,
        timestamp=at,
        **kwargs,
    )


def record(*events, at=AT):
    """Record, then run what waits for the commit (the alert evaluation)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return record_usage_events(events=list(events), received_at=at)


def alert_kinds(account):
    return sorted(
        (a.meter.code, a.kind)
        for a in Alert.objects.filter(account=account, period_start=APRIL)
    )


def stored(prefix):
    return sorted(
        (e.event_id, e.account_id, e.meter.code, e.quantity, e.properties)
        for e in UsageEvent.objects.filter(event_id__startswith=prefix)
    )


def scenario(prefix):
    """Batches with new ids, duplicates, a conflict and a negative level."""
    a, b = personal_account(), personal_account()
    outcomes = []

    def run(*events):
        try:
            result = record(*events)
            outcomes.append(("ok", result.accepted, result.duplicates))
        except UsageBatchRejected as error:
            outcomes.append(
                ("rejected", [(d["index"], d["code"]) for d in error.details])
            )

    run(
        event(a, "bandwidth", GB, id=f"{prefix}-1", properties={"cdn": "x"}),
        event(b, "bandwidth", 2 * GB, id=f"{prefix}-2"),
        event(a, "storage", GB, id=f"{prefix}-3"),
        event(a, "storage", -GB // 2, id=f"{prefix}-4"),
        event(b, "transcoding", 60, id=f"{prefix}-5"),
    )
    # Resend two, add one new: duplicates counted, the new one recorded.
    run(
        event(b, "bandwidth", 2 * GB, id=f"{prefix}-2"),
        event(a, "storage", GB, id=f"{prefix}-3"),
        event(a, "transcoding", 30, id=f"{prefix}-6"),
    )
    # A conflict and a level below zero: nothing of this batch is kept.
    run(
        event(a, "bandwidth", 5, id=f"{prefix}-1"),
        event(b, "bandwidth", 5, id=f"{prefix}-7"),
        event(a, "storage", -2 * GB, id=f"{prefix}-8"),
    )
    counters = sorted(
        (c.account_id == a.pk, c.meter.code, c.used)
        for c in UsageCounter.objects.filter(account__in=[a, b])
    )
    levels = sorted(
        (g.account_id == a.pk, g.level)
        for g in GaugeLevel.objects.filter(account__in=[a, b])
    )
    events = [row[2:] for row in stored(prefix)]
    return outcomes, counters, levels, events


def test_fast_and_portable_paths_record_the_same(monkeypatch):
    fast = scenario("fast")
    monkeypatch.setattr(usage, "PG_FAST_PATH", False)
    portable = scenario("portable")

    assert fast == portable
    outcomes, counters, levels, events = fast
    assert outcomes == [
        ("ok", 5, 0),
        ("ok", 1, 2),
        ("rejected", [(0, "idempotency_conflict"), (2, "negative_level")]),
    ]
    assert counters == [
        (False, "bandwidth", 2 * GB),
        (False, "transcoding", 60),
        (True, "bandwidth", GB),
        (True, "transcoding", 30),
    ]
    assert levels == [(True, GB // 2)]
    assert ("bandwidth", GB, {"cdn": "x"}) in events
    assert len(events) == 6


def test_ids_repeated_within_a_batch_are_still_caught():
    account = personal_account()

    result = record(
        event(account, "bandwidth", 10, id="rep-1"),
        event(account, "bandwidth", 10, id="rep-1"),
        event(account, "bandwidth", 20, id="rep-2"),
    )

    assert (result.accepted, result.duplicates) == (2, 1)
    with pytest.raises(UsageBatchRejected) as excinfo:
        record(
            event(account, "bandwidth", 30, id="rep-3"),
            event(account, "bandwidth", 31, id="rep-3"),
        )
    assert [(d["index"], d["code"]) for d in excinfo.value.details] == [
        (1, "idempotency_conflict")
    ]
    assert UsageEvent.objects.filter(account=account).count() == 2


def test_a_batch_crossing_80_percent_midway_raises_one_warning():
    account = personal_account()

    record(*[event(account, "bandwidth", GB) for _ in range(4)])  # 80% at the 4th
    record(event(account, "bandwidth", GB // 10))

    assert alert_kinds(account) == [("bandwidth", "warning_80")]


def test_a_batch_jumping_past_the_limit_raises_the_alert_of_its_end_state():
    account = personal_account()

    record(event(account, "bandwidth", 3 * GB), event(account, "bandwidth", 3 * GB))

    assert alert_kinds(account) == [("bandwidth", "exceeded")]


def test_a_level_carried_into_a_new_period_gets_its_alert_from_the_sweep():
    account = personal_account()
    march = AT - timedelta(days=30)
    record(event(account, "storage", 18 * GB // 10, at=march), at=march)
    assert alert_kinds(account) == []  # the March alert is in March

    sweep_expirations(at=AT)

    assert alert_kinds(account) == [("storage", "warning_80")]


def test_a_hard_blocked_account_gets_blocked_alerts_on_its_next_event():
    account = personal_account()
    account.hard_blocked = True
    account.save(update_fields=["hard_blocked"])

    record(event(account, "bandwidth", 1))

    assert alert_kinds(account) == [
        ("bandwidth", "blocked"),
        ("storage", "blocked"),
        ("transcoding", "blocked"),
    ]


def test_a_live_top_up_keeps_usage_past_the_allowance_at_warning():
    account = personal_account()
    GrantFactory(
        account=account,
        meter=meter("transcoding"),
        amount=3600,
        effective_at=AT - timedelta(days=1),
        expires_at=AT + timedelta(days=90),
    )

    record(event(account, "transcoding", 6000))  # 83% of 3600 + 3600

    assert alert_kinds(account) == [("transcoding", "warning_80")]


def test_overage_within_and_past_the_cap_is_screened_like_the_full_rules():
    account = personal_account()
    OverageConsentFactory(
        account=account,
        meter=meter("bandwidth"),
        cap_cents=9,
        period_start=APRIL,
        given_at=AT - timedelta(days=1),
    )

    record(event(account, "bandwidth", 5 * GB + 1))
    assert alert_kinds(account) == [("bandwidth", "exceeded")]  # overage
    record(event(account, "bandwidth", GB))

    assert alert_kinds(account) == [("bandwidth", "blocked"), ("bandwidth", "exceeded")]


def test_single_meter_status_equals_the_all_meter_status():
    account = company_account()
    GrantFactory(
        account=account,
        meter=meter("transcoding"),
        amount=600,
        effective_at=AT - timedelta(days=1),
        expires_at=AT + timedelta(days=90),
    )
    GrantFactory(account=account, meter=meter("storage"), amount=GB, expires_at=None)
    OverageConsentFactory(
        account=account,
        meter=meter("bandwidth"),
        cap_cents=500,
        period_start=APRIL,
        given_at=AT - timedelta(days=1),
    )
    record(
        event(account, "bandwidth", 6 * GB),
        event(account, "transcoding", 4000),
        event(account, "storage", 25 * GB // 10),
    )

    for status in account_quotas(account=account, at=AT):
        assert quota_status(account=account, meter=status.meter, at=AT) == status


def test_authorize_through_the_single_meter_path_keeps_the_answers():
    account = personal_account()
    record(event(account, "transcoding", 3000))

    ok = authorize_usage(
        account=account, meter=meter("transcoding"), quantity=600, at=AT
    )
    over = authorize_usage(
        account=account, meter=meter("transcoding"), quantity=601, at=AT
    )

    assert (ok.allowed, ok.reason, ok.state, ok.remaining) == (True, None, "warning", 0)
    assert (over.allowed, over.reason, over.state) == (
        False,
        "overage_confirmation_required",
        "exceeded",
    )


def test_a_batch_of_a_thousand_takes_a_fixed_number_of_queries(
    django_assert_max_num_queries,
):
    accounts = [personal_account() for _ in range(20)]
    events = [
        event(accounts[i % 20], ("bandwidth", "transcoding", "storage")[i % 3], 1)
        for i in range(1000)
    ]

    with django_assert_max_num_queries(20):
        result = record(*events)

    assert result.accepted == 1000
