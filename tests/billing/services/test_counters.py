"""Top-ups burn as usage is counted: after the plan's allowance, earliest
expiry first, only while live, and each only for its own account and meter."""

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from django.utils import timezone

from billing.models import Grant, Pack, UsageCounter
from billing.selectors import account_quotas
from billing.services.packs import purchase_pack
from billing.units import GB, period_of
from tests.factories.billing import (
    GrantFactory,
    meter,
    owner_of,
    personal_account,
    record_usage,
)

pytestmark = pytest.mark.django_db

AT = datetime(2025, 4, 15, 12, 0, tzinfo=UTC)
APRIL_1 = datetime(2025, 4, 1, tzinfo=UTC)


use = partial(record_usage, at=AT)


def quota(account, meter_code, *, at=AT):
    return next(
        q for q in account_quotas(account=account, at=at) if q.meter.code == meter_code
    )


def grant(account, meter_code, amount, *, effective_at=APRIL_1, expires_at, **kwargs):
    return GrantFactory(
        account=account,
        meter=meter(meter_code),
        amount=amount,
        effective_at=effective_at,
        expires_at=expires_at,
        **kwargs,
    )


def consumed(*grants):
    return [Grant.objects.get(pk=g.pk).consumed for g in grants]


def covered(account, meter_code, *, at=AT):
    return UsageCounter.objects.get(
        account=account, meter=meter(meter_code), period_start=period_of(at).start
    ).covered_by_grants


def test_revoked_top_up_is_not_burned():
    account = personal_account()
    top_up = GrantFactory(
        account=account,
        meter=meter("bandwidth"),
        amount=10 * GB,
        effective_at=APRIL_1,
        expires_at=None,
        revoked_at=AT - timedelta(hours=1),
    )

    use(account, "bandwidth", 6 * GB)

    assert consumed(top_up) == [0]
    status = quota(account, "bandwidth")
    assert (status.limit, status.state) == (5 * GB, "exceeded")


def test_future_dated_top_up_is_not_burned_yet():
    account = personal_account()
    later = grant(
        account,
        "bandwidth",
        10 * GB,
        effective_at=datetime(2025, 4, 20, tzinfo=UTC),
        expires_at=None,
    )

    use(account, "bandwidth", 6 * GB)

    assert consumed(later) == [0]
    assert quota(account, "bandwidth").state == "exceeded"


def test_plan_allowance_burns_before_any_top_up():
    account = personal_account()
    top_up = grant(account, "bandwidth", 10 * GB, expires_at=None)

    use(account, "bandwidth", 4 * GB)

    status = quota(account, "bandwidth")
    assert consumed(top_up) == [0]
    assert covered(account, "bandwidth") == 0
    assert (status.used, status.limit, status.remaining) == (4 * GB, 15 * GB, 11 * GB)

    use(account, "bandwidth", 2 * GB)

    assert consumed(top_up) == [GB]
    assert quota(account, "bandwidth").limit == 15 * GB


def test_top_ups_burn_earliest_expiry_first():
    account = personal_account()
    # Created in the opposite order to their expiries, so pk order would differ.
    forever = grant(account, "bandwidth", 10 * GB, expires_at=None)
    late = grant(
        account, "bandwidth", 10 * GB, expires_at=datetime(2025, 12, 1, tzinfo=UTC)
    )
    early = grant(
        account, "bandwidth", 10 * GB, expires_at=datetime(2025, 6, 1, tzinfo=UTC)
    )

    use(account, "bandwidth", 8 * GB)  # 5 GB allowance + 3 GB
    assert consumed(early, late, forever) == [3 * GB, 0, 0]

    use(account, "bandwidth", 10 * GB)  # early's last 7 GB, then 3 GB of late
    assert consumed(early, late, forever) == [10 * GB, 3 * GB, 0]
    status = quota(account, "bandwidth")
    assert (status.used, status.limit, status.state) == (18 * GB, 35 * GB, "ok")

    use(account, "bandwidth", 20 * GB)  # late's 7 GB, forever's 10 GB, 3 GB excess
    assert consumed(early, late, forever) == [10 * GB, 10 * GB, 10 * GB]
    assert covered(account, "bandwidth") == 30 * GB
    status = quota(account, "bandwidth")
    assert (status.used, status.limit, status.state) == (38 * GB, 35 * GB, "exceeded")


@pytest.mark.time_machine(AT)
def test_top_up_bought_while_over_the_limit_covers_the_excess():
    # purchase_pack works at the current time, so this test does too.
    account = personal_account()
    now = timezone.now()
    use(account, "transcoding", 3600 + 600, at=now)  # 10 minutes over
    assert quota(account, "transcoding", at=now).state == "exceeded"

    result = purchase_pack(
        account=account,
        pack=Pack.objects.get(code="transcoding-500min-once"),
        actor=owner_of(account),
        idempotency_key="buy-while-over",
    )

    top_up = result.purchase.grants.get()
    assert top_up.consumed == 600
    assert covered(account, "transcoding", at=now) == 600
    status = quota(account, "transcoding", at=timezone.now())
    assert status.used == 4200
    assert status.limit == 3600 + 500 * 60
    assert status.state == "ok"


def test_top_up_balance_outlives_the_month():
    account = personal_account()
    top_up = grant(
        account,
        "bandwidth",
        10 * GB,
        effective_at=datetime(2025, 3, 1, tzinfo=UTC),
        expires_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    use(account, "bandwidth", 8 * GB, at=datetime(2025, 3, 20, tzinfo=UTC))
    assert consumed(top_up) == [3 * GB]

    fresh = quota(account, "bandwidth", at=AT)
    assert (fresh.used, fresh.limit, fresh.state) == (0, 12 * GB, "ok")

    use(account, "bandwidth", 6 * GB)  # new allowance 5 GB, then 1 GB of the pack
    assert consumed(top_up) == [4 * GB]
    status = quota(account, "bandwidth")
    assert (status.used, status.limit, status.remaining) == (6 * GB, 12 * GB, 6 * GB)

    use(account, "bandwidth", 7 * GB)  # the pack's last 6 GB, then 1 GB excess
    assert consumed(top_up) == [10 * GB]
    status = quota(account, "bandwidth")
    assert (status.used, status.limit, status.state) == (13 * GB, 12 * GB, "exceeded")


def test_top_up_expiring_mid_period_keeps_what_it_covered_but_no_more():
    account = personal_account()
    top_up = grant(
        account,
        "bandwidth",
        10 * GB,
        effective_at=APRIL_1,
        expires_at=datetime(2025, 4, 20, tzinfo=UTC),
    )
    use(account, "bandwidth", 6 * GB)  # 1 GB from the pack
    later = datetime(2025, 4, 25, tzinfo=UTC)

    use(account, "bandwidth", GB, at=later)

    assert consumed(top_up) == [GB]
    status = quota(account, "bandwidth", at=later)
    assert (status.used, status.limit, status.state) == (7 * GB, 6 * GB, "exceeded")


def test_top_up_on_one_meter_does_not_cover_another():
    account = personal_account()
    top_up = grant(account, "transcoding", 6000, expires_at=None)

    use(account, "bandwidth", 6 * GB)

    assert consumed(top_up) == [0]
    assert quota(account, "bandwidth").state == "exceeded"
    assert quota(account, "transcoding").limit == 3600 + 6000


def test_top_up_of_one_account_does_not_cover_another():
    owner, other = personal_account(), personal_account()
    top_up = grant(owner, "bandwidth", 10 * GB, expires_at=None)

    use(other, "bandwidth", 6 * GB)

    assert consumed(top_up) == [0]
    assert quota(other, "bandwidth").state == "exceeded"
