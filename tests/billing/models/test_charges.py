"""The charge ledger is insert-only: the database refuses to edit an amount,
kind, currency or account, or to delete a row; only the status moves on."""

from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from billing.models import ChargeRecord
from tests.factories.billing import ChargeRecordFactory, personal_account

pytestmark = pytest.mark.django_db

AT = datetime(2026, 4, 16, 12, tzinfo=UTC)


def test_a_charge_amount_cannot_be_edited_nor_a_charge_deleted():
    charge = ChargeRecordFactory(amount_cents=500)

    with pytest.raises(DatabaseError), transaction.atomic():
        ChargeRecord.objects.filter(pk=charge.pk).update(amount_cents=1)

    charge.refresh_from_db()
    assert charge.amount_cents == 500
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), transaction.atomic():
            ChargeRecord.objects.filter(pk=charge.pk).delete()
        assert ChargeRecord.objects.filter(pk=charge.pk).exists()


@pytest.mark.parametrize(
    "field, value",
    [("kind", ChargeRecord.Kind.THEME), ("currency", "EUR")],
)
def test_a_charge_cannot_be_moved_to_another_kind_or_currency(field, value):
    charge = ChargeRecordFactory()

    with pytest.raises(DatabaseError), transaction.atomic():
        ChargeRecord.objects.filter(pk=charge.pk).update(**{field: value})

    charge.refresh_from_db()
    assert (charge.kind, charge.currency) == (ChargeRecord.Kind.ADJUSTMENT, "USD")


def test_a_charge_cannot_be_moved_to_another_account():
    charge = ChargeRecordFactory()
    other = personal_account()

    with pytest.raises(DatabaseError), transaction.atomic():
        ChargeRecord.objects.filter(pk=charge.pk).update(account=other)

    assert ChargeRecord.objects.get(pk=charge.pk).account_id == charge.account_id


@pytest.mark.time_machine(AT)
def test_a_charge_status_can_still_move_forward():
    charge = ChargeRecordFactory()

    ChargeRecord.objects.filter(pk=charge.pk).update(
        status=ChargeRecord.Status.PAID, paid_at=timezone.now()
    )

    charge.refresh_from_db()
    assert charge.status == ChargeRecord.Status.PAID
