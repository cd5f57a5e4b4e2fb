"""Billing history and the outstanding balance (paying: test_billing_documents)."""

import pytest
from django.urls import reverse

from billing.models import ChargeRecord, Pack
from billing.services.packs import purchase_pack
from billing.services.refunds import refund_charge
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import ChargeRecordFactory

pytestmark = pytest.mark.django_db


def billing_url(account):
    return reverse("dashboard:user-billing", args=[account.pk])


def test_history_lists_charges_with_kind_amount_status_and_balance(client, me):
    ChargeRecordFactory(account=me, amount_cents=1234, description="Bandwidth overage")
    page = client.get(billing_url(me)).content.decode()
    assert "Bandwidth overage" in page and "$12.34" in page and "Pending" in page
    assert "Pay $12.34" in page


def test_refunds_are_shown_against_their_original(client, me):
    charge = purchase_pack(
        account=me,
        pack=Pack.objects.get(code="storage-50gb-once"),
        actor=me.user,
        idempotency_key="to-refund",
    ).charge
    refund = refund_charge(
        charge=charge, actor=StaffUserFactory(perms=["billing.refund_charge"])
    )
    page = client.get(billing_url(me)).content.decode()
    receipt = reverse("dashboard:user-receipt", args=[me.pk, charge.purchase_id])
    assert f'Refund of <a href="{receipt}">charge #{charge.pk}</a>' in page
    assert f">charge #{refund.pk}</a>)" in page
    assert "-$20.00" in page


def test_history_is_paginated(client, me, django_assert_max_num_queries):
    ChargeRecordFactory.create_batch(45, account=me, status=ChargeRecord.Status.PAID)
    with django_assert_max_num_queries(12):
        first = client.get(billing_url(me)).content.decode()
    assert "Page 1 of 3" in first and first.count('id="charge-') == 20
    last = client.get(billing_url(me), {"page": 3}).content.decode()
    assert last.count('id="charge-') == 5
    assert "Page 3 of 3" in client.get(billing_url(me), {"page": 99}).content.decode()
