"""Usage alerts: raised once per period, e-mailed to the owner after commit."""

from datetime import UTC, date, datetime
from functools import partial

import pytest
from django.core import mail
from django.db import transaction

from billing.models import Alert
from billing.units import GB, Period
from tests.factories.billing import (
    OverageConsentFactory,
    company_account,
    meter,
    owner_of,
    personal_account,
    record_usage,
)

pytestmark = pytest.mark.django_db

AT = datetime(2025, 4, 15, 12, 0, tzinfo=UTC)
APRIL = Period(date(2025, 4, 1))


use = partial(record_usage, at=AT)


def alert_kinds(account):
    return sorted(
        (a.meter.code, a.kind, a.period_start)
        for a in Alert.objects.filter(account=account).select_related("meter")
    )


def test_warning_alert_is_raised_at_80_percent(django_capture_on_commit_callbacks):
    account = personal_account()

    with django_capture_on_commit_callbacks(execute=True):
        use(account, "bandwidth", 4 * GB)

    assert alert_kinds(account) == [("bandwidth", "warning_80", date(2025, 4, 1))]
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [owner_of(account).email]
    assert "Bandwidth" in mail.outbox[0].body
    assert Alert.objects.get(account=account).emailed_at is not None


def test_no_alert_below_80_percent(django_capture_on_commit_callbacks):
    account = personal_account()

    with django_capture_on_commit_callbacks(execute=True):
        use(account, "bandwidth", 4 * GB - 1)

    assert alert_kinds(account) == []
    assert mail.outbox == []


def test_warning_alert_is_raised_and_emailed_only_once(
    django_capture_on_commit_callbacks,
):
    account = personal_account()

    with django_capture_on_commit_callbacks(execute=True):
        use(account, "bandwidth", 4 * GB)
    with django_capture_on_commit_callbacks(execute=True):
        use(account, "bandwidth", GB // 2)
    with django_capture_on_commit_callbacks(execute=True):
        use(account, "bandwidth", GB // 4)

    assert alert_kinds(account) == [("bandwidth", "warning_80", date(2025, 4, 1))]
    assert len(mail.outbox) == 1


def test_warning_alert_is_raised_again_in_the_next_period(
    django_capture_on_commit_callbacks,
):
    account = personal_account()

    with django_capture_on_commit_callbacks(execute=True):
        use(account, "bandwidth", 4 * GB, at=datetime(2025, 3, 20, tzinfo=UTC))
    with django_capture_on_commit_callbacks(execute=True):
        use(account, "bandwidth", 4 * GB)

    assert alert_kinds(account) == [
        ("bandwidth", "warning_80", date(2025, 3, 1)),
        ("bandwidth", "warning_80", date(2025, 4, 1)),
    ]
    assert len(mail.outbox) == 2


def test_exceeded_alert_is_raised_when_the_limit_is_reached(
    django_capture_on_commit_callbacks,
):
    account = personal_account()

    with django_capture_on_commit_callbacks(execute=True):
        use(account, "storage", 2 * GB)
    with django_capture_on_commit_callbacks(execute=True):
        use(account, "storage", GB)

    assert alert_kinds(account) == [("storage", "exceeded", date(2025, 4, 1))]
    assert Alert.objects.get(account=account).message == (
        "Storage: limit reached (2.0 GB of 2.0 GB)."
    )
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [owner_of(account).email]


def test_warning_then_exceeded_are_two_alerts(django_capture_on_commit_callbacks):
    account = personal_account()

    with django_capture_on_commit_callbacks(execute=True):
        use(account, "transcoding", 3000)
    with django_capture_on_commit_callbacks(execute=True):
        use(account, "transcoding", 600)

    assert alert_kinds(account) == [
        ("transcoding", "exceeded", date(2025, 4, 1)),
        ("transcoding", "warning_80", date(2025, 4, 1)),
    ]
    assert len(mail.outbox) == 2


def test_blocked_alert_is_raised_when_the_consent_cap_is_reached(
    django_capture_on_commit_callbacks,
):
    account = personal_account()
    OverageConsentFactory(
        account=account, meter=meter("bandwidth"), cap_cents=9, period=APRIL
    )

    with django_capture_on_commit_callbacks(execute=True):
        use(account, "bandwidth", 6 * GB)  # 1 GB over = 9 cents: the whole cap

    assert alert_kinds(account) == [("bandwidth", "blocked", date(2025, 4, 1))]
    assert len(mail.outbox) == 1


def test_company_alert_is_emailed_to_the_company_owner(
    django_capture_on_commit_callbacks,
):
    account = company_account()

    with django_capture_on_commit_callbacks(execute=True):
        use(account, "bandwidth", 5 * GB)

    assert alert_kinds(account) == [("bandwidth", "exceeded", date(2025, 4, 1))]
    assert [m.to for m in mail.outbox] == [[owner_of(account).email]]


def test_no_email_before_the_transaction_commits(django_capture_on_commit_callbacks):
    account = personal_account()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        use(account, "bandwidth", 4 * GB)
        assert mail.outbox == []

    assert len(callbacks) == 1
    assert mail.outbox == []


def test_no_alert_or_email_when_the_transaction_rolls_back(
    django_capture_on_commit_callbacks,
):
    account = personal_account()

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        use(account, "bandwidth", 5 * GB)
        raise RuntimeError("the caller failed after recording")

    assert alert_kinds(account) == []
    assert mail.outbox == []
