"""Money history in the store admin cannot be rewritten."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import ChargeRecord
from billing.permissions import REFUND_CHARGE
from store.models import Payout, RevenuePolicy
from store.services.sales import purchase_theme
from tests.factories.accounts import StaffUserFactory, UserFactory
from tests.factories.store import BundleFactory, PayoutFactory, ThemeFactory

pytestmark = pytest.mark.django_db


def test_a_policy_in_effect_is_read_only_a_future_one_is_editable(admin_client):
    current = RevenuePolicy.objects.order_by("effective_from").first()
    url = reverse("admin:store_revenuepolicy_change", args=[current.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    response = admin_client.post(url, {"name": "Rewritten", "monthly_cap_cents": 1})
    assert response.status_code == 403
    current.refresh_from_db()
    assert current.name != "Rewritten"
    future = RevenuePolicy.objects.create(
        name="Next year", effective_from=timezone.now() + timedelta(days=40)
    )
    page = admin_client.get(
        reverse("admin:store_revenuepolicy_change", args=[future.pk])
    )
    assert 'name="_save"' in page.content.decode()


def test_recorded_payouts_cannot_be_edited_or_deleted(admin_client):
    payout = PayoutFactory(amount_cents=1000)
    change = reverse("admin:store_payout_change", args=[payout.pk])
    assert admin_client.post(change, {"amount_cents": 1}).status_code == 403
    delete = reverse("admin:store_payout_delete", args=[payout.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    payout.refresh_from_db()
    assert payout.amount_cents == 1000
    assert Payout.objects.count() == 1


def test_staff_who_may_only_view_bundles_can_open_one(client):
    bundle = BundleFactory()
    client.force_login(StaffUserFactory(perms=["store.view_bundle"]))
    response = client.get(reverse("admin:store_bundle_change", args=[bundle.pk]))
    assert response.status_code == 200
    assert bundle.name in response.content.decode()


def test_a_sale_refund_shows_the_buyer_the_reason_and_keeps_the_note_internal(
    client,
):
    buyer = UserFactory()
    sale = purchase_theme(
        actor=buyer, theme=ThemeFactory(price_cents=1500), idempotency_key="k"
    ).sale
    client.force_login(StaffUserFactory(perms=["store.view_sale", REFUND_CHARGE]))
    client.post(
        reverse("admin:store_sale_changelist"),
        {
            "action": "refund",
            "_selected_action": [sale.pk],
            "confirm": "yes",
            "reason": "Refunded at your request.",
            "staff_note": "Customer asked: bought by mistake",
        },
    )
    refund = ChargeRecord.objects.get(refund_of=sale.charge)
    assert refund.customer_reason == "Refunded at your request."
    assert refund.staff_note == "Customer asked: bought by mistake"

    client.force_login(buyer)
    page = client.get(
        reverse("dashboard:user-billing", args=[buyer.billing_account.pk])
    ).content.decode()
    assert "Refunded at your request." in page
    assert "Customer asked" not in page
