"""Quota states, remaining and percent, and the limit live grants give."""

from datetime import UTC, date, datetime, timedelta
from functools import partial

import pytest
from django.utils import timezone

from billing.models import Grant
from billing.selectors import account_quotas, authorize_usage, job_slot_limit
from billing.units import GB, Period
from tests.factories.billing import (
    GrantFactory,
    JobSlotFactory,
    OverageConsentFactory,
    company_account,
    meter,
    personal_account,
    record_usage,
)

pytestmark = pytest.mark.django_db

AT = datetime(2025, 4, 15, 12, 0, tzinfo=UTC)
APRIL = Period(date(2025, 4, 1))
APRIL_1 = datetime(2025, 4, 1, tzinfo=UTC)


use = partial(record_usage, at=AT)


def quota(account, meter_code, *, at=AT):
    account.refresh_from_db()
    return next(
        q for q in account_quotas(account=account, at=at) if q.meter.code == meter_code
    )


def consent(account, meter_code="bandwidth", *, cap_cents, period=APRIL, **kwargs):
    """A consent for ``period``, given on 2 April."""
    kwargs.setdefault("given_at", datetime(2025, 4, 2, tzinfo=UTC))
    return OverageConsentFactory(
        account=account,
        meter=meter(meter_code),
        cap_cents=cap_cents,
        period=period,
        **kwargs,
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


def test_fresh_personal_account_sees_the_free_plan_limits():
    account = personal_account()

    quotas = {q.meter.code: q for q in account_quotas(account=account, at=AT)}

    assert set(quotas) == {"storage", "bandwidth", "transcoding"}
    assert {code: q.limit for code, q in quotas.items()} == {
        "storage": 2 * GB,
        "bandwidth": 5 * GB,
        "transcoding": 3600,
    }
    assert {q.state for q in quotas.values()} == {"ok"}
    assert all(q.used == 0 and q.percent == 0 for q in quotas.values())


def test_company_account_also_sees_job_slots():
    account = company_account()

    slots = quota(account, "job_slots")

    assert (slots.used, slots.limit, slots.state) == (0, 2, "ok")


def test_below_80_percent_is_ok_with_remaining_and_percent():
    account = personal_account()
    use(account, "bandwidth", 3_900_000_000)

    status = quota(account, "bandwidth")

    assert status.state == "ok"
    assert status.used == 3_900_000_000
    assert status.remaining == 1_100_000_000
    assert status.percent == 78.0


def test_transcoding_percent_and_remaining_are_in_seconds():
    account = personal_account()
    use(account, "transcoding", 900)

    status = quota(account, "transcoding")

    assert (status.used, status.limit, status.remaining) == (900, 3600, 2700)
    assert status.percent == 25.0


@pytest.mark.parametrize("used", [4 * GB, 4_990_000_000, 5 * GB - 1])
def test_80_to_99_percent_is_warning(used):
    account = personal_account()
    use(account, "bandwidth", used)

    status = quota(account, "bandwidth")

    assert status.state == "warning"
    assert status.remaining == 5 * GB - used


def test_just_under_80_percent_is_still_ok():
    account = personal_account()
    use(account, "bandwidth", 4 * GB - 1)

    assert quota(account, "bandwidth").state == "ok"


def test_over_the_limit_shows_percent_above_100_and_no_remaining():
    account = personal_account()
    use(account, "bandwidth", 6 * GB)

    status = quota(account, "bandwidth")

    assert (status.state, status.remaining, status.percent) == ("exceeded", 0, 120.0)
    assert status.excess == GB


def test_consent_on_another_meter_does_not_count():
    account = personal_account()
    consent(account, "transcoding", cap_cents=1000)
    use(account, "bandwidth", 6 * GB)

    assert quota(account, "bandwidth").state == "exceeded"


def test_usage_is_counted_per_period():
    account = personal_account()
    use(account, "bandwidth", 5 * GB, at=datetime(2025, 3, 20, tzinfo=UTC))

    assert quota(account, "bandwidth", at=datetime(2025, 3, 31, tzinfo=UTC)).state == (
        "exceeded"
    )
    april = quota(account, "bandwidth", at=AT)
    assert (april.used, april.state) == (0, "ok")


# Grants ---------------------------------------------------------------------


def test_storage_grant_raises_the_limit_while_it_is_active():
    account = personal_account()
    grant(account, "storage", 3 * GB, expires_at=datetime(2025, 5, 1, tzinfo=UTC))
    use(account, "storage", 4 * GB)

    during = quota(account, "storage", at=AT)
    after = quota(account, "storage", at=datetime(2025, 5, 2, tzinfo=UTC))

    assert (during.limit, during.state) == (5 * GB, "warning")
    assert (after.limit, after.state) == (2 * GB, "exceeded")


def test_storage_grants_add_up():
    account = personal_account()
    grant(account, "storage", 3 * GB, expires_at=None)
    grant(account, "storage", 50 * GB, expires_at=datetime(2026, 4, 1, tzinfo=UTC))

    assert quota(account, "storage").limit == 55 * GB


def test_expired_grant_stops_counting_before_any_sweep():
    account = personal_account()
    lapsed = grant(
        account,
        "storage",
        3 * GB,
        effective_at=datetime(2025, 3, 1, tzinfo=UTC),
        expires_at=datetime(2025, 4, 10, tzinfo=UTC),
    )
    use(account, "storage", 3 * GB, at=datetime(2025, 4, 5, tzinfo=UTC))

    before = quota(account, "storage", at=datetime(2025, 4, 9, tzinfo=UTC))
    after = quota(account, "storage", at=AT)
    answer = authorize_usage(account=account, meter=meter("storage"), quantity=1, at=AT)

    assert Grant.objects.get(pk=lapsed.pk).expiry_processed_at is None
    assert (before.limit, before.state) == (5 * GB, "ok")
    assert (after.limit, after.state) == (2 * GB, "exceeded")
    assert answer.reason == "overage_confirmation_required"


@pytest.mark.time_machine(AT)
def test_grant_built_expired_does_not_count_now():
    account = personal_account()
    GrantFactory(account=account, meter=meter("storage"), amount=3 * GB, expired=True)

    assert quota(account, "storage", at=timezone.now()).limit == 2 * GB


def test_expired_slot_grant_stops_counting_before_any_sweep():
    account = company_account()
    grant(
        account,
        "job_slots",
        5,
        effective_at=datetime(2025, 3, 1, tzinfo=UTC),
        expires_at=datetime(2025, 4, 10, tzinfo=UTC),
    )
    JobSlotFactory.create_batch(2, account=account)

    while_live = authorize_usage(
        account=account,
        meter=meter("job_slots"),
        quantity=1,
        at=datetime(2025, 4, 9, tzinfo=UTC),
    )
    after = authorize_usage(
        account=account, meter=meter("job_slots"), quantity=1, at=AT
    )

    assert while_live.allowed is True
    assert job_slot_limit(account=account, at=AT) == 2
    assert (after.allowed, after.reason) == (False, "quota_exceeded")


def test_revoked_grant_counts_until_its_revocation_and_never_after():
    account = personal_account()
    GrantFactory(
        account=account,
        meter=meter("storage"),
        amount=3 * GB,
        effective_at=APRIL_1,
        expires_at=None,
        revoked_at=AT,
    )

    assert quota(account, "storage", at=AT - timedelta(seconds=1)).limit == 5 * GB
    assert quota(account, "storage", at=AT).limit == 2 * GB


def test_future_dated_grant_does_not_count_yet():
    account = personal_account()
    grant(
        account,
        "storage",
        3 * GB,
        effective_at=datetime(2025, 4, 20, tzinfo=UTC),
        expires_at=datetime(2025, 5, 20, tzinfo=UTC),
    )

    assert quota(account, "storage", at=AT).limit == 2 * GB
    assert quota(account, "storage", at=datetime(2025, 4, 21, tzinfo=UTC)).limit == (
        5 * GB
    )


def test_grant_counts_only_between_its_start_and_expiry():
    account = personal_account()
    grant(
        account,
        "bandwidth",
        10 * GB,
        effective_at=APRIL_1,
        expires_at=datetime(2025, 5, 1, tzinfo=UTC),
    )

    assert quota(account, "bandwidth", at=datetime(2025, 3, 31, tzinfo=UTC)).limit == (
        5 * GB
    )
    assert quota(account, "bandwidth", at=AT).limit == 15 * GB
    assert quota(account, "bandwidth", at=datetime(2025, 5, 2, tzinfo=UTC)).limit == (
        5 * GB
    )
