"""The caches equal a rebuild from the facts, after every step of a history.

A hypothesis state machine plays random histories on one account: events in
and out of order (late ones too), top-ups bought and refunded, consents
given and revoked, the clock moving on with the daily snapshots a cron
would take, and months closed once due. After every step the incremental
caches (counters, levels, burns, snapshots, rollups) must equal what
``rebuild_usage`` computes from the facts, and every overage figure must
equal a plain-Python model of the rules written here, event by event.
"""

import contextlib
import io
import itertools
import os
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction
from django.test import TestCase
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from billing.errors import BillingError
from billing.models import (
    ChargeRecord,
    GaugeLevel,
    Grant,
    GrantBurn,
    OverageConsent,
    UsageCounter,
    UsageEvent,
    UsageRollup,
    UsageSnapshot,
)
from billing.quotas.current import period_overage
from billing.quotas.facts import period_overage_from_facts
from billing.selectors import quota_status
from billing.services.consents import give_overage_consent, revoke_overage_consent
from billing.services.packs import purchase_pack
from billing.services.periods import close_due_periods
from billing.services.rebuild import rebuild_usage
from billing.services.refunds import refund_charge
from billing.services.snapshots import take_usage_snapshots
from billing.services.usage import UsageEventInput, record_usage_events
from billing.units import GB, Period, period_of, to_cents
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import (
    PackFactory,
    meter,
    owner_of,
    personal_account,
)

pytestmark = pytest.mark.django_db

START = datetime(2027, 3, 1, 1, tzinfo=UTC)
ALLOWANCE = {"bandwidth": 5 * GB, "storage": 2 * GB}
PRICE_CENTS = {"bandwidth": Decimal(9) / GB, "storage": Decimal(10) / GB}
# Bounded and seeded: CI runs the same histories on both databases.
EXAMPLES = int(os.environ.get("BILLING_REBUILD_EXAMPLES", "20"))
STEPS = int(os.environ.get("BILLING_REBUILD_STEPS", "14"))


def _caches(account_id: int) -> dict[str, list]:
    mine = {"account_id": account_id}
    return {
        "counters": sorted(
            UsageCounter.objects.filter(**mine).values_list(
                "meter_id",
                "period_start",
                "used",
                "covered_by_grants",
                "consented_excess",
            )
        ),
        "levels": sorted(
            GaugeLevel.objects.filter(**mine).values_list("meter_id", "level")
        ),
        "burns": sorted(
            GrantBurn.objects.filter(**mine).values_list(
                "grant_id", "period_start", "units"
            )
        ),
        "consumed": sorted(Grant.objects.filter(**mine).values_list("pk", "consumed")),
        "snapshots": sorted(
            UsageSnapshot.objects.filter(**mine).values_list(
                "meter_id", "day", "used", "limit", "state", "unbilled_excess"
            )
        ),
        "rollups": sorted(
            UsageRollup.objects.values_list(
                "meter_id",
                "day",
                "accounts",
                "total_used",
                "over_with_consent",
                "over_without_consent",
                "unbilled_excess",
            )
        ),
    }


class UsageHistory(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.now = START
        self.ids = itertools.count()
        with self.step():
            self.account = personal_account()
            self.staff = StaffUserFactory(perms=["billing.refund_charge"])
            self.packs = {
                "bandwidth": PackFactory(price_cents=900, lines={"bandwidth": 3 * GB}),
                "storage": PackFactory(price_cents=700, lines={"storage": 2 * GB}),
            }
        self.snapshots_through = START.date() - timedelta(days=1)

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    @contextmanager
    def step(self):
        """Act at ``now``; after-commit work runs as it would in production."""
        with (
            time_machine.travel(self.now, tick=False),
            TestCase.captureOnCommitCallbacks(execute=True),
        ):
            yield

    # Rules ------------------------------------------------------------

    @initialize(focus=st.sampled_from(["bandwidth", "storage"]))
    def one_meter(self, focus: str) -> None:
        """Each history plays on one meter, so sequences that matter (over
        the limit, consent, more usage, a top-up) come up often."""
        self.focus = focus

    @rule(hours=st.sampled_from([1, 3, 8, 20, 30, 90, 400]))
    def time_passes(self, hours: int) -> None:
        """The clock moves on; the cron snapshots each finished day."""
        self.now += timedelta(hours=hours)
        with self.step():
            day = self.snapshots_through + timedelta(days=1)
            while day < self.now.date():
                take_usage_snapshots(day=day, at=self.now)
                self.snapshots_through = day
                day += timedelta(days=1)

    @rule(
        quantity=st.integers(1, 6).map(lambda n: n * GB)
        | st.integers(-3, -1).map(lambda n: n * GB),
        hours_ago=st.sampled_from([0, 0, 0, 1, 5, 30, 80, 400]),
    )
    def usage_arrives(self, quantity: int, hours_ago: int) -> None:
        """An event, on time or late (possibly into a closed period)."""
        happened = max(self.now - timedelta(hours=hours_ago), START)
        with self.step(), contextlib.suppress(BillingError):
            # negative_level, invalid_quantity, period_closed: refused
            record_usage_events(
                events=[
                    UsageEventInput(
                        id=f"h-{next(self.ids)}",
                        account=self.account,
                        meter=self.focus,
                        quantity=quantity,
                        timestamp=happened,
                    )
                ]
            )

    @rule()
    def pack_bought(self) -> None:
        with self.step():
            purchase_pack(
                account=self.account,
                pack=self.packs[self.focus],
                actor=owner_of(self.account),
                idempotency_key=f"k-{next(self.ids)}",
            )

    @rule(amount=st.sampled_from([None, 1]))
    def last_pack_refunded(self, amount: int | None) -> None:
        charge = (
            ChargeRecord.objects.filter(
                account=self.account, status="paid", refunds__isnull=True
            )
            .exclude(kind="refund")
            .order_by("-pk")
            .first()
        )
        if charge is None:
            return
        with self.step():
            refund_charge(charge=charge, actor=self.staff, amount_cents=amount)

    @rule(cap_cents=st.integers(1, 150), recurring=st.booleans())
    def consent_given(self, cap_cents: int, recurring: bool) -> None:
        with self.step():
            give_overage_consent(
                account=self.account,
                meter=meter(self.focus),
                cap_cents=cap_cents,
                recurring=recurring,
                actor=owner_of(self.account),
            )

    @rule()
    def consent_revoked(self) -> None:
        with self.step():
            revoke_overage_consent(
                account=self.account,
                meter=meter(self.focus),
                actor=owner_of(self.account),
            )

    @rule(
        before=st.sampled_from([7, 1, 4, 9]),
        after=st.sampled_from([4, 1, 2, 6]),
        cap_cents=st.sampled_from([150, 1, 20, 1000]),
        top_up=st.sampled_from([True, False]),
    )
    def over_then_consent_then_more(
        self, before: int, after: int, cap_cents: int, top_up: bool
    ) -> None:
        """A common path played in one step, an hour apart: usage without a
        consent, a consent, more usage, maybe a top-up (which covers the
        consented part first)."""
        self.consent_revoked()
        unit = GB if self.focus == "bandwidth" else GB // 2
        self.usage_arrives(before * unit, 0)
        self.time_passes(1)
        self.consent_given(cap_cents, False)
        self.time_passes(1)
        self.usage_arrives(after * unit, 0)
        if top_up:
            self.time_passes(1)
            self.pack_bought()

    @rule()
    def due_months_closed(self) -> None:
        with self.step():
            close_due_periods(at=self.now)

    # Invariants -------------------------------------------------------

    @invariant()
    def caches_equal_a_rebuild(self) -> None:
        before = _caches(self.account.pk)
        with self.step():
            rebuild_usage(at=self.now)
        after = _caches(self.account.pk)
        for name in before:
            assert before[name] == after[name], name

    @invariant()
    def figures_equal_the_model(self) -> None:
        model = RulesModel(self.account, now=self.now)
        with self.step():
            for meter_code in ("bandwidth", "storage"):
                for period in model.periods:
                    expected = model.billable_cents(meter_code, period)
                    figures = period_overage_from_facts(
                        account=self.account,
                        meter=meter(meter_code),
                        period=period,
                        known_at=self.now,
                    )
                    assert figures.billable_cents == expected, (meter_code, period)
                current = period_overage(
                    account=self.account, meter=meter(meter_code), at=self.now
                )
                assert current.billable_cents == model.billable_cents(
                    meter_code, period_of(self.now)
                ), meter_code
            status = quota_status(account=self.account, meter=meter("bandwidth"))
            assert status.used == model.counter_used(period_of(self.now))


class RulesModel:
    """The billing rules in plain Python, event by event, from the facts.

    Written independently of ``billing.quotas``: no segments, no caches.
    """

    def __init__(self, account, *, now: datetime) -> None:
        self.now = now
        self.events = {
            code: sorted(
                UsageEvent.objects.filter(
                    account=account, meter__code=code
                ).values_list("timestamp", "quantity")
            )
            for code in ("bandwidth", "storage")
        }
        self.grants = {
            code: list(
                Grant.objects.filter(account=account, meter__code=code).order_by("pk")
            )
            for code in ("bandwidth", "storage")
        }
        self.consents = {
            code: list(OverageConsent.objects.filter(account=account, meter__code=code))
            for code in ("bandwidth", "storage")
        }
        self.periods = []
        period = period_of(START)
        while period.start <= period_of(now).start:
            self.periods.append(period)
            period = period.next()
        self._bandwidth = self._fold_bandwidth()

    def _covering(self, code: str, period: Period) -> list:
        return [
            c
            for c in self.consents[code]
            if (c.period_start == period.start)
            or (c.recurring and c.period_start < period.start)
        ]

    @staticmethod
    def _live(consents, instant: datetime) -> bool:
        return any(
            c.given_at <= instant and (c.revoked_at is None or instant < c.revoked_at)
            for c in consents
        )

    def _cap(self, code: str, period: Period) -> int | None:
        given = [
            c
            for c in self._covering(code, period)
            if c.given_at < period.ends_at
            and (c.revoked_at is None or c.revoked_at > period.starts_at)
        ]
        return max(given, key=lambda c: c.given_at).cap_cents if given else None

    @staticmethod
    def _grant_live(grant, instant: datetime) -> bool:
        ends = [m for m in (grant.expires_at, grant.revoked_at) if m is not None]
        return grant.effective_at <= instant and (not ends or instant < min(ends))

    def _fold_bandwidth(self) -> dict[Period, tuple[int, int]]:
        """Per period: (used, consented excess), walking events in order."""
        balance = {g.pk: g.amount for g in self.grants["bandwidth"]}
        order = sorted(
            self.grants["bandwidth"],
            key=lambda g: (g.expires_at is None, g.expires_at or datetime.max, g.pk),
        )
        out = {}
        for period in self.periods:
            consents = self._covering("bandwidth", period)
            timeline = [
                (g.effective_at, 0, g)
                for g in order
                if period.starts_at < g.effective_at < period.ends_at
            ] + [
                (ts, 1, quantity)
                for ts, quantity in self.events["bandwidth"]
                if period.starts_at <= ts < period.ends_at
            ]
            timeline.sort(key=lambda item: (item[0], item[1]))
            allowance = ALLOWANCE["bandwidth"]
            used = consented = unconsented = 0
            for instant, kind, item in timeline:
                if kind == 0:
                    take = min(consented, balance[item.pk])
                    consented -= take
                    balance[item.pk] -= take
                    take = min(unconsented, balance[item.pk])
                    unconsented -= take
                    balance[item.pk] -= take
                    continue
                used += item
                rest = item - min(item, allowance)
                allowance -= item - rest
                for grant in order:
                    if rest and self._grant_live(grant, instant):
                        take = min(rest, balance[grant.pk])
                        balance[grant.pk] -= take
                        rest -= take
                if self._live(consents, instant):
                    consented += rest
                else:
                    unconsented += rest
            out[period] = (used, consented)
        return out

    def counter_used(self, period: Period) -> int:
        return self._bandwidth[period][0]

    def _storage_consented_gb_days(self, period: Period) -> int:
        consents = self._covering("storage", period)
        total = 0
        day = period.start
        last_day = min(self.now.date(), period.end - timedelta(days=1))
        while day <= last_day:
            end = datetime.combine(day + timedelta(days=1), time.min, UTC)
            instant = end - timedelta(microseconds=1)
            # A late deletion floors an earlier day at 0.
            level = max(sum(q for ts, q in self.events["storage"] if ts < end), 0)
            limit = ALLOWANCE["storage"] + sum(
                g.amount for g in self.grants["storage"] if self._grant_live(g, instant)
            )
            if self._live(consents, instant):
                total += max(level - limit, 0)
            day += timedelta(days=1)
        return total

    def billable_cents(self, code: str, period: Period) -> int:
        cap = self._cap(code, period)
        if cap is None:
            return 0
        if code == "bandwidth":
            cost = to_cents(self._bandwidth[period][1] * PRICE_CENTS[code])
        else:
            unit_days = self._storage_consented_gb_days(period)
            cost = to_cents(Decimal(unit_days) / period.days * PRICE_CENTS[code])
        return min(cost, cap)


def test_caches_equal_a_rebuild_and_figures_equal_the_model():
    run_state_machine_as_test(
        UsageHistory,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_rebuild_usage_command_changes_nothing_on_a_healthy_history():
    with time_machine.travel(datetime(2027, 3, 10, 12, tzinfo=UTC), tick=False):
        account = personal_account()
        record_usage_events(
            events=[
                UsageEventInput(
                    id=f"c-{n}",
                    account=account,
                    meter=code,
                    quantity=3 * GB,
                    timestamp=datetime(2027, 3, 10, n, tzinfo=UTC),
                )
                for n, code in enumerate(["bandwidth", "storage", "bandwidth"])
            ]
        )
    with time_machine.travel(datetime(2027, 3, 13, 1, tzinfo=UTC), tick=False):
        for day in (10, 11, 12):
            take_usage_snapshots(day=date(2027, 3, day))
        before = _caches(account.pk)
        UsageCounter.objects.filter(account=account).update(used=1)  # corrupt it
        out = io.StringIO()
        call_command("rebuild_usage", "--account", str(account.pk), stdout=out)

    assert _caches(account.pk) == before
    assert "Rebuilt 1 account(s) for 2027-03..2027-03" in out.getvalue()
