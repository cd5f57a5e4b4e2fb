"""Theme reviews and sale refunds leave one audit entry each."""

import pytest

from billing.models import AuditEntry
from store.models import Sale
from store.services.sales import purchase_theme, refund_sale
from store.services.themes import approve_theme, reject_theme
from tests.factories.accounts import StaffUserFactory, UserFactory
from tests.factories.store import ThemeFactory

pytestmark = pytest.mark.django_db


def test_an_approval_is_recorded_with_the_status_it_replaced():
    theme = ThemeFactory(in_review=True)
    reviewer = StaffUserFactory(perms=["store.review_theme"])
    approve_theme(theme=theme, staff_user=reviewer)
    theme.refresh_from_db()

    (entry,) = AuditEntry.objects.all()
    assert (entry.action, entry.actor, entry.target_type, entry.target_id) == (
        "theme_approved",
        reviewer,
        "store.theme",
        str(theme.pk),
    )
    assert entry.before["status"] == "in_review"
    assert entry.before["published_at"] is None
    assert entry.after["status"] == "approved"
    assert entry.at == theme.published_at


def test_a_rejection_is_recorded_with_its_reason():
    theme = ThemeFactory()  # listed: rejecting delists it
    reviewer = StaffUserFactory(perms=["store.review_theme"])
    reject_theme(theme=theme, staff_user=reviewer, reason="Stolen artwork.")

    (entry,) = AuditEntry.objects.all()
    assert (entry.action, entry.actor, entry.reason) == (
        "theme_rejected",
        reviewer,
        "Stolen artwork.",
    )
    assert (entry.before["status"], entry.after["status"]) == ("approved", "rejected")
    assert entry.after["review_note"] == "Stolen artwork."


@pytest.mark.parametrize("price_cents", [1500, 0], ids=["paid", "free"])
def test_a_sale_refund_is_one_entry_on_the_sale(price_cents):
    buyer = UserFactory()
    sale = purchase_theme(
        user=buyer,
        theme=ThemeFactory(price_cents=price_cents),
        idempotency_key="k",
    ).sale
    refunder = StaffUserFactory(perms=["billing.refund_charge"])
    refund_sale(sale=sale, staff_user=refunder, reason="mistake")

    (entry,) = AuditEntry.objects.all()  # the charge's refund is not counted twice
    assert (entry.action, entry.actor, entry.target_type, entry.reason) == (
        "refund",
        refunder,
        "store.sale",
        "mistake",
    )
    assert entry.account == buyer.billing_account
    assert entry.before == {"status": "completed", "price_cents": price_cents}
    assert entry.after["status"] == Sale.Status.REFUNDED
    assert entry.after["licences_revoked"] == 1
    assert (entry.after["refund_id"] is None) == (price_cents == 0)
