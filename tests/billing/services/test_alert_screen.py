"""Which rows a usage write sends to the alert evaluation."""

from datetime import date

import pytest

from billing.models import Alert
from billing.services.alerts import AlertSpec, UsageRow, rows_needing_alerts
from tests.factories.billing import meter, personal_account

pytestmark = pytest.mark.django_db

APRIL = date(2026, 4, 1)


def row(account, used, **kwargs):
    values = {"allowance": 100, "hard_blocked": False, "topped_up_or_consented": False}
    values.update(kwargs)
    return UsageRow(
        account_id=account.pk, meter_id=meter("bandwidth").pk, used=used, **values
    )


def raise_(account, kind):
    spec = AlertSpec(
        account_id=account.pk,
        meter_id=meter("bandwidth").pk,
        kind=kind,
        period_start=APRIL,
        message="",
    )
    Alert.objects.create(
        account=account,
        meter=meter("bandwidth"),
        kind=kind,
        period_start=APRIL,
        dedupe_key=spec.dedupe_key,
        message="x",
    )


def due(*rows):
    return rows_needing_alerts(rows=rows, period_start=APRIL)


def test_a_row_under_80_percent_of_its_allowance_is_left_alone():
    account = personal_account()
    assert due(row(account, 79)) == set()


def test_a_row_at_80_percent_is_evaluated_until_its_warning_exists():
    account = personal_account()
    key = (account.pk, meter("bandwidth").pk)
    assert due(row(account, 85)) == {key}
    raise_(account, Alert.Kind.WARNING_80)
    assert due(row(account, 85)) == set()


def test_past_the_allowance_exceeded_ends_it_unless_a_grant_or_consent_may_act():
    account = personal_account()
    key = (account.pk, meter("bandwidth").pk)
    raise_(account, Alert.Kind.WARNING_80)
    assert due(row(account, 150)) == {key}
    raise_(account, Alert.Kind.EXCEEDED)
    assert due(row(account, 150)) == set()
    assert due(row(account, 150, topped_up_or_consented=True)) == {key}


def test_a_hard_blocked_account_is_always_evaluated():
    account = personal_account()
    raise_(account, Alert.Kind.EXCEEDED)
    assert due(row(account, 1, hard_blocked=True)) == {
        (account.pk, meter("bandwidth").pk)
    }


def test_alerts_read_with_the_totals_spare_the_lookup(django_assert_num_queries):
    account = personal_account()
    key = (account.pk, meter("bandwidth").pk)
    warned = row(account, 85, raised=(Alert.Kind.WARNING_80,))
    unwarned = row(account, 85, raised=())
    exceeded = row(account, 150, raised=(Alert.Kind.EXCEEDED,))
    with django_assert_num_queries(0):
        assert due(warned) == set()
        assert due(unwarned) == {key}
        assert due(exceeded) == set()
