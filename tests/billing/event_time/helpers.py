"""Helpers for the event-time edge cases: every step at a named instant."""

import itertools
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import time_machine

from billing.models import (
    ChargeRecord,
    GaugeLevel,
    Grant,
    GrantBurn,
    UsageCounter,
    UsageSnapshot,
)
from billing.services.consents import give_overage_consent, revoke_overage_consent
from billing.services.packs import purchase_pack, renew_purchase
from billing.services.periods import close_billing_period
from billing.services.rebuild import rebuild_usage
from billing.services.refunds import refund_charge
from billing.services.snapshots import take_usage_snapshots
from billing.services.usage import record_usage_events
from billing.units import GB, Period
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import (
    UsageEventFactory,
    meter,
    owner_of,
    personal_account,
)

MARCH = Period(date(2027, 3, 1))  # 31 days
APRIL = Period(date(2027, 4, 1))  # 30 days
MAY = Period(date(2027, 5, 1))  # 31 days
_ids = itertools.count()


def moment(month, day, hour=0, minute=0, second=0, micro=0):
    return datetime(2027, month, day, hour, minute, second, micro, tzinfo=UTC)


@contextmanager
def clock(instant):
    with time_machine.travel(instant, tick=False):
        yield


def customer():
    with clock(moment(2, 1)):
        return personal_account()


def use(account, meter_code, quantity, *, on, received=None, event_id=None):
    with clock(received or on):
        return record_usage_events(
            events=[
                UsageEventFactory.build(
                    id=event_id or f"r-{next(_ids)}",
                    account=account,
                    meter=meter_code,
                    quantity=quantity,
                    timestamp=on,
                )
            ]
        )


def consent(account, meter_code, cap_cents, *, on, recurring=False):
    with clock(on):
        return give_overage_consent(
            account=account,
            meter=meter(meter_code),
            cap_cents=cap_cents,
            recurring=recurring,
            actor=owner_of(account),
        )


def revoke(account, meter_code, *, on):
    with clock(on):
        return revoke_overage_consent(
            account=account, meter=meter(meter_code), actor=owner_of(account)
        )


def buy(account, pack, *, on):
    with clock(on):
        return purchase_pack(
            account=account,
            pack=pack,
            actor=owner_of(account),
            idempotency_key=f"buy-{next(_ids)}",
        )


def renew(purchase, *, on):
    with clock(on):
        return renew_purchase(
            purchase=purchase,
            actor=owner_of(purchase.account),
            idempotency_key=f"renew-{next(_ids)}",
        )


def refund(charge, *, on, amount=None):
    with clock(on):
        return refund_charge(
            charge=charge,
            actor=StaffUserFactory(perms=["billing.refund_charge"]),
            amount_cents=amount,
        )


def close(period, *, on):
    with clock(on):
        return close_billing_period(period=period, at=on)


def snapshot_days(first, last):
    day = first
    while day <= last:
        with clock(datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)):
            take_usage_snapshots(day=day)
        day += timedelta(days=1)


def overage_cents(account, meter_code, period):
    return list(
        ChargeRecord.objects.filter(
            account=account,
            kind=ChargeRecord.Kind.OVERAGE,
            meter__code=meter_code,
            period_start=period.start,
        ).values_list("amount_cents", flat=True)
    )


def caches(account_id):
    mine = {"account_id": account_id}
    return {
        "counters": sorted(
            (m, p, u, c, e)
            for m, p, u, c, e in UsageCounter.objects.filter(**mine).values_list(
                "meter_id",
                "period_start",
                "used",
                "covered_by_grants",
                "consented_excess",
            )
            if u or c or e
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
    }


def rebuild_diff(account, *, now):
    """Caches before and after rebuild_usage at ``now``: (before, after)."""
    before = caches(account.pk)
    with clock(now):
        rebuild_usage(at=now, account_ids=[account.pk])
    after = caches(account.pk)
    # rebuild fills in days never snapshotted: compare the days that existed
    days = {(m, d) for m, d, *_ in before["snapshots"]}
    after["snapshots"] = [r for r in after["snapshots"] if (r[0], r[1]) in days]
    return before, after


__all__ = ["GB"]
