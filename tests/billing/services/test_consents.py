"""Giving and revoking overage consent: one live consent per meter, with a
cap, for the current period or every later one; by managers only."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.errors import InvalidRequest, PermissionDenied
from billing.models import OverageConsent
from billing.selectors import account_quotas, authorize_usage
from billing.services.consents import give_overage_consent, revoke_overage_consent
from billing.units import GB, period_of
from tests.factories.accounts import MembershipFactory, UserFactory
from tests.factories.billing import (
    company_account,
    meter,
    owner_of,
    personal_account,
    record_usage,
)

pytestmark = pytest.mark.django_db

# Mid-month, so a test that reads the clock twice never straddles a month end.
MID_APRIL = datetime(2026, 4, 16, 12, tzinfo=UTC)

FREE_BANDWIDTH = 5 * GB


def _consent(
    account, *, cap_cents=10_000, recurring=False, user=None, code="bandwidth"
):
    return give_overage_consent(
        account=account,
        meter=meter(code),
        cap_cents=cap_cents,
        recurring=recurring,
        actor=user or owner_of(account),
    )


def _revoke(account, *, user=None, code="bandwidth"):
    return revoke_overage_consent(
        account=account, meter=meter(code), actor=user or owner_of(account)
    )


def _quota(account, code, *, at=None):
    for status in account_quotas(account=account, at=at):
        if status.meter.code == code:
            return status
    raise AssertionError(f"no {code} quota")


def _ask(account, quantity=GB):
    return authorize_usage(account=account, meter=meter("bandwidth"), quantity=quantity)


def _next_period():
    return period_of(timezone.now()).ends_at + timedelta(days=1)


@pytest.mark.time_machine(MID_APRIL)
def test_a_consent_is_recorded_for_the_current_period():
    account = personal_account()
    owner = owner_of(account)

    consent = _consent(account, cap_cents=2500, user=owner)

    assert consent.cap_cents == 2500
    assert consent.given_by == owner
    assert consent.period_start == period_of(timezone.now()).start
    assert consent.revoked_at is None
    status = _quota(account, "bandwidth")
    assert (status.consent, status.cap_cents) == (consent, 2500)


@pytest.mark.parametrize("cap_cents", [0, -100, "100", 1.5, Decimal("100"), True])
def test_the_cap_must_be_a_positive_whole_number_of_cents(cap_cents):
    account = personal_account()

    with pytest.raises(InvalidRequest) as excinfo:
        _consent(account, cap_cents=cap_cents)

    assert excinfo.value.code == "invalid_request"
    assert not OverageConsent.objects.filter(account=account).exists()


@pytest.mark.time_machine(MID_APRIL)
def test_an_invalid_cap_leaves_the_live_consent_in_place():
    account = personal_account()
    live = _consent(account, cap_cents=2500)

    with pytest.raises(InvalidRequest):
        _consent(account, cap_cents=0)

    live.refresh_from_db()
    assert live.revoked_at is None
    assert _quota(account, "bandwidth").cap_cents == 2500


def test_a_hard_limit_meter_refuses_consent():
    account = company_account()

    with pytest.raises(InvalidRequest):
        _consent(account, code="job_slots")

    assert not OverageConsent.objects.filter(account=account).exists()


@pytest.mark.time_machine(MID_APRIL)
def test_a_new_consent_replaces_the_live_one():
    account = personal_account()
    first = _consent(account, cap_cents=1000)

    second = _consent(account, cap_cents=5000)

    live = OverageConsent.objects.filter(
        account=account, meter=meter("bandwidth"), revoked_at__isnull=True
    )
    assert list(live) == [second]
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert _quota(account, "bandwidth").cap_cents == 5000


@pytest.mark.time_machine(MID_APRIL)
def test_consents_on_different_meters_live_side_by_side():
    account = personal_account()

    _consent(account, cap_cents=1000, code="bandwidth")
    _consent(account, cap_cents=2000, code="transcoding")

    assert _quota(account, "bandwidth").cap_cents == 1000
    assert _quota(account, "transcoding").cap_cents == 2000


@pytest.mark.time_machine(MID_APRIL)
def test_an_exceeded_account_needs_consent_before_more_usage():
    account = personal_account()
    record_usage(account, "bandwidth", FREE_BANDWIDTH)

    answer = _ask(account)

    assert answer.allowed is False
    assert answer.reason == "overage_confirmation_required"
    assert answer.state == "exceeded"
    assert _quota(account, "bandwidth").state == "exceeded"


@pytest.mark.time_machine(MID_APRIL)
def test_after_consent_an_exceeded_account_is_allowed_in_overage():
    account = personal_account()
    record_usage(account, "bandwidth", FREE_BANDWIDTH)

    _consent(account, cap_cents=10_000)

    answer = _ask(account)
    assert answer.allowed is True
    assert answer.reason is None
    assert answer.state == "overage"
    assert _quota(account, "bandwidth").state == "overage"


@pytest.mark.time_machine(MID_APRIL)
def test_consent_allows_only_up_to_its_cap():
    account = personal_account()
    record_usage(account, "bandwidth", FREE_BANDWIDTH)
    _consent(account, cap_cents=50)  # 9 cents per GB: five GB fit, six do not

    assert _ask(account, quantity=5 * GB).allowed is True
    answer = _ask(account, quantity=6 * GB)
    assert answer.allowed is False
    assert answer.reason == "blocked"


@pytest.mark.time_machine(MID_APRIL)
def test_after_revoking_the_account_is_denied_again():
    account = personal_account()
    record_usage(account, "bandwidth", FREE_BANDWIDTH)
    consent = _consent(account)

    assert _revoke(account) is True

    answer = _ask(account)
    assert answer.allowed is False
    assert answer.reason == "overage_confirmation_required"
    consent.refresh_from_db()
    assert consent.revoked_at is not None
    assert _quota(account, "bandwidth").consent is None


def test_revoking_twice_reports_nothing_to_revoke():
    account = personal_account()
    _consent(account)
    _revoke(account)

    assert _revoke(account) is False


@pytest.mark.time_machine(MID_APRIL)
def test_a_one_off_consent_does_not_cover_the_next_period():
    account = personal_account()
    _consent(account, recurring=False)

    assert _quota(account, "bandwidth").consent is not None
    assert _quota(account, "bandwidth", at=_next_period()).consent is None


@pytest.mark.time_machine(MID_APRIL)
def test_a_recurring_consent_covers_later_periods():
    account = personal_account()
    consent = _consent(account, cap_cents=3000, recurring=True)

    later = _quota(account, "bandwidth", at=_next_period())
    assert later.consent == consent
    assert later.cap_cents == 3000
    far = _quota(account, "bandwidth", at=_next_period() + timedelta(days=100))
    assert far.consent == consent


@pytest.mark.time_machine(MID_APRIL)
def test_a_consent_does_not_cover_periods_before_it_was_given():
    account = personal_account()
    _consent(account, recurring=True)
    last_month = period_of(timezone.now()).starts_at - timedelta(days=1)

    assert _quota(account, "bandwidth", at=last_month).consent is None


@pytest.mark.time_machine(MID_APRIL)
def test_a_revoked_recurring_consent_covers_no_later_period():
    account = personal_account()
    _consent(account, recurring=True)

    _revoke(account)

    assert _quota(account, "bandwidth", at=_next_period()).consent is None


def test_a_company_member_cannot_consent():
    account = company_account()
    member = MembershipFactory(company=account.company).user

    with pytest.raises(PermissionDenied) as excinfo:
        _consent(account, user=member)

    assert excinfo.value.code == "forbidden"
    assert not OverageConsent.objects.filter(account=account).exists()


def test_a_company_member_cannot_revoke_consent():
    account = company_account()
    consent = _consent(account)
    member = MembershipFactory(company=account.company).user

    with pytest.raises(PermissionDenied):
        _revoke(account, user=member)

    consent.refresh_from_db()
    assert consent.revoked_at is None


@pytest.mark.parametrize("role", ["owner", "admin"])
@pytest.mark.time_machine(MID_APRIL)
def test_company_owners_and_admins_can_consent(role):
    account = company_account()
    user = MembershipFactory(company=account.company, role=role).user

    consent = _consent(account, user=user)

    assert consent.given_by == user
    assert _quota(account, "bandwidth").consent == consent


def test_a_user_cannot_consent_for_someone_elses_account():
    account = personal_account()

    with pytest.raises(PermissionDenied):
        _consent(account, user=UserFactory())

    assert not OverageConsent.objects.filter(account=account).exists()
