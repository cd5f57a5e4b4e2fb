"""The expiry sweep: reminders before a pack ends, one expired alert after,
none twice, none for what was renewed, refunded or revoked."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from billing.models import Alert
from billing.services.expirations import sweep_expirations
from billing.services.packs import purchase_pack, renew_purchase
from billing.services.refunds import refund_charge
from billing.units import GB
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import (
    GrantFactory,
    PackFactory,
    company_account,
    meter,
    owner_of,
    personal_account,
)

pytestmark = pytest.mark.django_db

AT = datetime(2026, 4, 16, 12, tzinfo=UTC)


def _buy(account, *, subscription=False, token="buy", name="Storage +50 GB"):
    pack = PackFactory(
        name=name,
        term_days=30,
        subscription=subscription,
        lines={"storage": 50 * GB},
    )
    return purchase_pack(
        account=account, pack=pack, actor=owner_of(account), idempotency_key=token
    )


def _alerts(account, kind):
    return list(account.alerts.filter(kind=kind).order_by("pk"))


@pytest.fixture
def sweep(django_capture_on_commit_callbacks):
    """Run the sweep and deliver its e-mails, as after a real commit."""

    def run(*, now):
        with django_capture_on_commit_callbacks(execute=True):
            return sweep_expirations(at=now)

    return run


def test_a_reminder_goes_out_seven_days_before_expiry(sweep):
    account = personal_account()
    purchase = _buy(account).purchase

    result = sweep(now=purchase.expires_at - timedelta(days=7))

    assert result.reminders == 1
    (alert,) = _alerts(account, Alert.Kind.EXPIRING_SOON)
    assert purchase.pack.name in alert.message
    assert alert.emailed_at is not None
    (email,) = mail.outbox
    assert email.to == [account.user.email]
    assert purchase.pack.name in email.body


def test_a_second_reminder_goes_out_one_day_before_expiry(sweep):
    account = personal_account()
    purchase = _buy(account).purchase
    sweep(now=purchase.expires_at - timedelta(days=7))

    result = sweep(now=purchase.expires_at - timedelta(days=1))

    assert result.reminders == 1
    assert len(_alerts(account, Alert.Kind.EXPIRING_SOON)) == 2
    assert len(mail.outbox) == 2


def test_rerunning_the_sweep_sends_no_reminder_twice(sweep):
    account = personal_account()
    purchase = _buy(account).purchase
    for days in (7, 7, 6, 1, 1):
        sweep(now=purchase.expires_at - timedelta(days=days))
    rerun = sweep(now=purchase.expires_at - timedelta(hours=2))

    assert rerun.reminders == 0
    assert len(_alerts(account, Alert.Kind.EXPIRING_SOON)) == 2
    assert len(mail.outbox) == 2


def test_no_reminder_earlier_than_seven_days_before_expiry(sweep):
    account = personal_account()
    purchase = _buy(account).purchase

    result = sweep(now=purchase.expires_at - timedelta(days=8))

    assert result.reminders == 0
    assert not _alerts(account, Alert.Kind.EXPIRING_SOON)
    assert mail.outbox == []


def test_a_company_reminder_is_emailed_to_the_owner(sweep):
    account = company_account()
    purchase = _buy(account).purchase

    sweep(now=purchase.expires_at - timedelta(days=7))

    (email,) = mail.outbox
    assert email.to == [owner_of(account).email]


def test_a_renewed_purchase_gets_no_reminder(sweep):
    account = personal_account()
    purchase = _buy(account, subscription=True).purchase
    renew_purchase(purchase=purchase, actor=owner_of(account), idempotency_key="r1")

    week_before = sweep(now=purchase.expires_at - timedelta(days=7))
    day_before = sweep(now=purchase.expires_at - timedelta(days=1))

    assert (week_before.reminders, day_before.reminders) == (0, 0)
    assert not _alerts(account, Alert.Kind.EXPIRING_SOON)
    assert mail.outbox == []


def test_a_declined_renewal_still_leaves_the_reminder(sweep, settings):
    account = personal_account()
    purchase = _buy(account, subscription=True).purchase
    settings.BILLING_SANDBOX_DECLINE = True
    renew_purchase(purchase=purchase, actor=owner_of(account), idempotency_key="r1")

    result = sweep(now=purchase.expires_at - timedelta(days=7))

    assert result.reminders == 1


def test_a_refunded_purchase_gets_no_reminder(sweep):
    account = personal_account()
    bought = _buy(account)
    refund_charge(
        charge=bought.charge,
        actor=StaffUserFactory(perms=["billing.refund_charge"]),
    )

    result = sweep(now=bought.purchase.expires_at - timedelta(days=7))

    assert result.reminders == 0
    assert not _alerts(account, Alert.Kind.EXPIRING_SOON)


def test_an_expired_grant_raises_one_expired_alert(sweep):
    account = personal_account()
    purchase = _buy(account).purchase

    result = sweep(now=purchase.expires_at + timedelta(hours=1))

    assert result.expired_grants == 1
    (alert,) = _alerts(account, Alert.Kind.EXPIRED)
    assert alert.meter == meter("storage")
    assert purchase.pack.name in alert.message
    (email,) = mail.outbox
    assert email.to == [account.user.email]


def test_rerunning_the_sweep_raises_no_second_expired_alert(sweep):
    account = personal_account()
    purchase = _buy(account).purchase
    sweep(now=purchase.expires_at + timedelta(hours=1))

    rerun = sweep(now=purchase.expires_at + timedelta(days=2))

    assert rerun.expired_grants == 0
    assert len(_alerts(account, Alert.Kind.EXPIRED)) == 1
    assert len(mail.outbox) == 1


def test_a_grant_still_running_raises_no_expired_alert(sweep):
    account = personal_account()
    purchase = _buy(account).purchase

    result = sweep(now=purchase.expires_at - timedelta(minutes=1))

    assert result.expired_grants == 0
    assert not _alerts(account, Alert.Kind.EXPIRED)


def test_a_revoked_grant_raises_no_expired_alert(sweep):
    account = personal_account()
    grant = GrantFactory(account=account, revoked=True)

    result = sweep(now=grant.expires_at + timedelta(hours=1))

    assert result.expired_grants == 0
    assert not _alerts(account, Alert.Kind.EXPIRED)


@pytest.mark.time_machine(AT)
def test_a_staff_grant_without_expiry_never_expires(sweep):
    account = personal_account()
    GrantFactory(account=account, expires_at=None)

    result = sweep(now=timezone.now() + timedelta(days=3650))

    assert result.expired_grants == 0
    assert not _alerts(account, Alert.Kind.EXPIRED)
