"""Store staff powers: reviewing needs store.review_theme, refunding a sale
billing.refund_charge, the payouts page store.view_payouts; the services
check, not only the admin."""

import pytest
from django.test import Client
from django.urls import reverse

from billing.errors import MissingPermission
from store.models import Sale, Theme
from store.selectors.earnings import payouts_due
from store.services.sales import purchase_theme, refund_sale
from store.services.themes import approve_theme, reject_theme
from tests.factories.accounts import StaffUserFactory, UserFactory
from tests.factories.store import ThemeFactory

pytestmark = pytest.mark.django_db

REVIEW = "store.review_theme"
REFUND = "billing.refund_charge"
THEMES = reverse("admin:store_theme_changelist")
SALES = reverse("admin:store_sale_changelist")


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _sale() -> Sale:
    return purchase_theme(
        actor=UserFactory(), theme=ThemeFactory(price_cents=1500), idempotency_key="k"
    ).sale


# store.review_theme ------------------------------------------------------------


def test_the_attack_a_view_only_staff_user_posts_the_approve_action():
    """The review finding: view_theme alone approved a theme by a direct POST."""
    theme = ThemeFactory(in_review=True)
    attacker = _client(StaffUserFactory(perms=["store.view_theme"]))

    page = attacker.get(THEMES)
    response = attacker.post(
        THEMES, {"action": "approve", "_selected_action": [theme.pk]}
    )

    assert page.status_code == 200 and 'value="approve"' not in page.content.decode()
    assert response.status_code in (200, 302)  # "no action selected"
    theme.refresh_from_db()
    assert theme.status == Theme.Status.IN_REVIEW
    assert theme.published_at is None


def test_a_reviewer_approves_and_rejects_from_admin():
    listed, turned_down = ThemeFactory.create_batch(2, in_review=True)
    reviewer = _client(StaffUserFactory(perms=["store.view_theme", REVIEW]))

    assert 'value="approve"' in reviewer.get(THEMES).content.decode()
    reviewer.post(THEMES, {"action": "approve", "_selected_action": [listed.pk]})
    reviewer.post(
        THEMES,
        {
            "action": "reject",
            "_selected_action": [turned_down.pk],
            "confirm": "yes",
            "reason": "Blurry previews.",
        },
    )

    listed.refresh_from_db()
    turned_down.refresh_from_db()
    assert listed.status == Theme.Status.APPROVED
    assert (turned_down.status, turned_down.review_note) == (
        Theme.Status.REJECTED,
        "Blurry previews.",
    )


def test_the_reject_action_needs_review_theme():
    theme = ThemeFactory(in_review=True)
    viewer = _client(StaffUserFactory(perms=["store.view_theme", "store.change_theme"]))
    viewer.post(
        THEMES,
        {
            "action": "reject",
            "_selected_action": [theme.pk],
            "confirm": "yes",
            "reason": "x",
        },
    )
    theme.refresh_from_db()
    assert theme.status == Theme.Status.IN_REVIEW


def test_the_review_services_need_review_theme():
    theme = ThemeFactory(in_review=True)
    other_staff = StaffUserFactory(perms=["store.view_theme", "store.change_theme"])
    with pytest.raises(MissingPermission):
        approve_theme(theme=theme, actor=other_staff)
    with pytest.raises(MissingPermission):
        reject_theme(theme=theme, actor=other_staff, reason="x")
    theme.refresh_from_db()
    assert theme.status == Theme.Status.IN_REVIEW

    approve_theme(theme=theme, actor=StaffUserFactory(perms=[REVIEW]))
    theme.refresh_from_db()
    assert theme.status == Theme.Status.APPROVED
    reject_theme(theme=theme, actor=StaffUserFactory(perms=[REVIEW]), reason="x")
    theme.refresh_from_db()
    assert theme.status == Theme.Status.REJECTED


# billing.refund_charge for sales ---------------------------------------------


def test_refunding_a_sale_needs_refund_charge():
    sale = _sale()
    with pytest.raises(MissingPermission):
        refund_sale(sale=sale, actor=StaffUserFactory(perms=["store.change_sale"]))
    sale.refresh_from_db()
    assert sale.status == Sale.Status.COMPLETED

    refund_sale(sale=sale, actor=StaffUserFactory(perms=[REFUND]))
    sale.refresh_from_db()
    assert sale.status == Sale.Status.REFUNDED


def test_the_sale_refund_action_needs_refund_charge():
    sale = _sale()
    # change_sale was the action's gate before: it is no longer enough.
    viewer = _client(StaffUserFactory(perms=["store.view_sale", "store.change_sale"]))
    refunder = _client(StaffUserFactory(perms=["store.view_sale", REFUND]))
    data = {
        "action": "refund",
        "_selected_action": [sale.pk],
        "confirm": "yes",
        "reason": "mistake",
    }

    assert 'value="refund"' not in viewer.get(SALES).content.decode()
    viewer.post(SALES, data)
    sale.refresh_from_db()
    assert sale.status == Sale.Status.COMPLETED

    assert 'value="refund"' in refunder.get(SALES).content.decode()
    refunder.post(SALES, data)
    sale.refresh_from_db()
    assert sale.status == Sale.Status.REFUNDED


# store.view_payouts --------------------------------------------------------------


def test_the_payouts_page_needs_view_payouts(client):
    url = reverse("dashboard:store-payouts")
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404  # not staff: not advertised

    client.force_login(StaffUserFactory(perms=["billing.view_analytics"]))
    refused = client.get(url)
    assert refused.status_code == 403
    assert "store.view_payouts" in refused.content.decode()
    store = reverse("dashboard:store-themes")
    assert url not in client.get(store).content.decode()  # no tab either

    client.force_login(StaffUserFactory(perms=["store.view_payouts"]))
    assert client.get(url).status_code == 200
    assert url in client.get(store).content.decode()


def test_the_payouts_report_itself_needs_view_payouts():
    """Not only the page: any caller of the selector meets the rule."""
    sale = _sale()
    for viewer in (
        StaffUserFactory(perms=["billing.view_analytics", "store.view_payout"]),
        StaffUserFactory(perms=["store.view_payouts"], is_staff=False),
        UserFactory(),
    ):
        with pytest.raises(MissingPermission) as excinfo:
            payouts_due(viewer=viewer)
        assert excinfo.value.permission == "store.view_payouts"

    [row] = payouts_due(viewer=StaffUserFactory(perms=["store.view_payouts"]))
    assert row.creator == sale.theme.creator


def test_the_payouts_report_has_no_system_reader():
    with pytest.raises(TypeError):
        payouts_due()  # the viewer is required
    with pytest.raises(MissingPermission):
        payouts_due(viewer=None)


def test_a_creator_without_payout_rights_still_sees_their_earnings(client):
    theme = ThemeFactory()
    client.force_login(theme.creator)
    assert client.get(reverse("dashboard:store-earnings")).status_code == 200
    assert client.get(reverse("dashboard:store-payouts")).status_code == 404
