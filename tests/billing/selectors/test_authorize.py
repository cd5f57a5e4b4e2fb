"""What ``authorize_usage`` answers: allowed within the limit, or within a
consent's cap; soft-blocked past the limit, hard-blocked at the cap."""

from datetime import UTC, date, datetime
from functools import partial

import pytest

from billing.models import Account
from billing.selectors import account_quotas, authorize_usage
from billing.units import GB, Period
from tests.factories.billing import (
    JobSlotFactory,
    OverageConsentFactory,
    company_account,
    meter,
    personal_account,
    record_usage,
)

pytestmark = pytest.mark.django_db

AT = datetime(2025, 4, 15, 12, 0, tzinfo=UTC)
MARCH = Period(date(2025, 3, 1))
APRIL = Period(date(2025, 4, 1))


use = partial(record_usage, at=AT)


def quota(account, meter_code, *, at=AT):
    account.refresh_from_db()
    return next(
        q for q in account_quotas(account=account, at=at) if q.meter.code == meter_code
    )


def authorize(account, meter_code, quantity, *, at=AT):
    account.refresh_from_db()
    return authorize_usage(
        account=account, meter=meter(meter_code), quantity=quantity, at=at
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


def test_warning_still_allows_requests_within_the_limit():
    account = personal_account()
    use(account, "bandwidth", 4 * GB)

    answer = authorize(account, "bandwidth", GB)

    assert (answer.allowed, answer.reason, answer.state) == (True, None, "warning")
    assert answer.remaining == 0


def test_at_the_limit_without_consent_is_exceeded_and_soft_blocked():
    account = personal_account()
    use(account, "bandwidth", 5 * GB)

    status = quota(account, "bandwidth")
    answer = authorize(account, "bandwidth", 1)

    assert (status.state, status.remaining, status.percent) == ("exceeded", 0, 100.0)
    assert answer.allowed is False
    assert answer.reason == "overage_confirmation_required"
    assert answer.state == "exceeded"


def test_storage_level_over_the_limit_is_exceeded():
    account = personal_account()
    use(account, "storage", 2 * GB + 1)

    answer = authorize(account, "storage", 1)

    assert quota(account, "storage").state == "exceeded"
    assert (answer.allowed, answer.reason) == (False, "overage_confirmation_required")


def test_request_that_fits_exactly_is_allowed():
    account = personal_account()
    use(account, "bandwidth", GB)

    answer = authorize(account, "bandwidth", 4 * GB)

    assert (answer.allowed, answer.reason, answer.state) == (True, None, "ok")
    assert answer.remaining == 0


def test_request_that_would_cross_the_limit_is_denied_even_from_ok():
    account = personal_account()
    use(account, "bandwidth", GB)

    answer = authorize(account, "bandwidth", 4 * GB + 1)

    assert quota(account, "bandwidth").state == "ok"
    assert answer.allowed is False
    assert answer.reason == "overage_confirmation_required"
    assert answer.state == "exceeded"
    assert answer.remaining == 4 * GB


def test_authorize_records_nothing():
    account = personal_account()

    authorize(account, "bandwidth", GB)

    assert quota(account, "bandwidth").used == 0


def test_full_job_slots_are_a_hard_limit():
    account = company_account()
    JobSlotFactory.create_batch(2, account=account)

    answer = authorize(account, "job_slots", 1)

    assert quota(account, "job_slots").state == "exceeded"
    assert (answer.allowed, answer.reason, answer.state) == (
        False,
        "quota_exceeded",
        "exceeded",
    )


def test_job_slot_request_crossing_the_limit_is_refused():
    account = company_account()
    JobSlotFactory(account=account)
    JobSlotFactory(account=account, released=True)

    assert authorize(account, "job_slots", 1).allowed is True
    answer = authorize(account, "job_slots", 2)

    assert (answer.allowed, answer.reason) == (False, "quota_exceeded")
    assert quota(account, "job_slots").used == 1


def test_consent_within_the_cap_allows_overage():
    account = personal_account()
    consent(account, cap_cents=100)
    use(account, "bandwidth", 6 * GB)  # 1 GB over: 9 cents so far

    status = quota(account, "bandwidth")
    answer = authorize(account, "bandwidth", GB)  # 2 GB over: 18 cents

    assert status.state == "overage"
    assert (status.accrued_cents, status.cap_cents) == (9, 100)
    assert (answer.allowed, answer.reason, answer.state) == (True, None, "overage")


def test_consent_lets_a_request_cross_the_limit_from_ok():
    account = personal_account()
    consent(account, cap_cents=100)
    use(account, "bandwidth", GB)

    answer = authorize(account, "bandwidth", 5 * GB)

    assert quota(account, "bandwidth").state == "ok"
    assert (answer.allowed, answer.state) == (True, "overage")


def test_request_that_would_pass_the_consent_cap_is_blocked():
    account = personal_account()
    consent(account, cap_cents=20)
    use(account, "bandwidth", 6 * GB)  # 9 cents so far

    within = authorize(account, "bandwidth", GB)  # 2 GB x 9c = 18c <= 20c
    beyond = authorize(account, "bandwidth", 2 * GB)  # 3 GB x 9c = 27c > 20c

    assert within.allowed is True
    assert (beyond.allowed, beyond.reason, beyond.state) == (
        False,
        "blocked",
        "blocked",
    )


def test_consent_cap_reached_is_the_hard_block():
    account = personal_account()
    consent(account, cap_cents=9)
    use(account, "bandwidth", 6 * GB)  # 1 GB x 9c = 9c: the whole cap

    answer = authorize(account, "bandwidth", 1)

    assert quota(account, "bandwidth").state == "blocked"
    assert (answer.allowed, answer.reason, answer.state) == (
        False,
        "blocked",
        "blocked",
    )


def test_storage_overage_request_is_priced_for_the_rest_of_the_period():
    # Level 3 GB, limit 2 GB, on 15 April (16 days left counting today).
    # Adding 1 GB: (3 GB - 2 GB + 1 GB) x 16 days / 30 days x 10c = 10.67c -> 11c.
    tight, roomy = personal_account(), personal_account()
    for account, cap in [(tight, 10), (roomy, 11)]:
        consent(account, "storage", cap_cents=cap)
        use(account, "storage", 3 * GB)

    assert quota(tight, "storage").state == "overage"
    assert authorize(tight, "storage", GB).reason == "blocked"
    assert authorize(roomy, "storage", GB).allowed is True


def test_consent_for_another_period_does_not_count():
    account = personal_account()
    consent(account, cap_cents=1000, period=MARCH)
    use(account, "bandwidth", 6 * GB)

    answer = authorize(account, "bandwidth", GB)

    assert quota(account, "bandwidth").state == "exceeded"
    assert answer.reason == "overage_confirmation_required"


def test_recurring_consent_from_an_earlier_period_counts():
    account = personal_account()
    consent(account, cap_cents=1000, period=MARCH, recurring=True)
    use(account, "bandwidth", 6 * GB)

    assert quota(account, "bandwidth").state == "overage"
    assert authorize(account, "bandwidth", GB).allowed is True


def test_revoked_consent_does_not_count():
    account = personal_account()
    consent(account, cap_cents=1000, revoked_at=datetime(2025, 4, 10, tzinfo=UTC))
    use(account, "bandwidth", 6 * GB)

    assert quota(account, "bandwidth").state == "exceeded"
    assert authorize(account, "bandwidth", GB).allowed is False


def test_staff_hard_block_blocks_every_meter_even_when_unused():
    account = company_account()
    consent(account, cap_cents=1000)
    Account.objects.filter(pk=account.pk).update(hard_blocked=True)
    account.refresh_from_db()

    states = {q.meter.code: q.state for q in account_quotas(account=account, at=AT)}
    answers = [
        authorize(account, code, 1)
        for code in ["storage", "bandwidth", "transcoding", "job_slots"]
    ]

    assert set(states.values()) == {"blocked"}
    assert {(a.allowed, a.reason, a.state) for a in answers} == {
        (False, "blocked", "blocked")
    }
