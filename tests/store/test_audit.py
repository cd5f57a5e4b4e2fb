"""Theme reviews, sale refunds and staff edits of bundles, revenue policies and
payouts leave one audit entry each (none for a save that changes nothing)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.errors import InvalidRequest, MissingPermission
from billing.models import AuditEntry
from store.models import Bundle, Payout, RevenuePolicy, Sale
from store.services.bundles import save_bundle
from store.services.earnings import delete_revenue_policy, record_payout
from store.services.sales import purchase_theme, refund_sale
from store.services.themes import approve_theme, reject_theme
from tests.factories.accounts import StaffUserFactory, UserFactory
from tests.factories.store import BundleFactory, ThemeFactory

pytestmark = pytest.mark.django_db


def test_an_approval_is_recorded_with_the_status_it_replaced():
    theme = ThemeFactory(in_review=True)
    reviewer = StaffUserFactory(perms=["store.review_theme"])
    approve_theme(theme=theme, actor=reviewer)
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
    reject_theme(theme=theme, actor=reviewer, reason="Stolen artwork.")

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
        actor=buyer,
        theme=ThemeFactory(price_cents=price_cents),
        idempotency_key="k",
    ).sale
    refunder = StaffUserFactory(perms=["billing.refund_charge"])
    refund_sale(sale=sale, actor=refunder, customer_reason="mistake")

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


# Staff edits in admin: bundles, revenue policies, payouts ---------------------------

NOON = datetime(2026, 4, 16, 12, tzinfo=UTC)
FUTURE = datetime(2026, 6, 1, tzinfo=UTC)


def _only_entry(**filters) -> AuditEntry:
    (entry,) = AuditEntry.objects.filter(**filters)
    return entry


def _split(field: str, moment: datetime) -> dict[str, str]:
    """The admin's date and time inputs for one datetime field."""
    return {
        f"{field}_0": moment.strftime("%Y-%m-%d"),
        f"{field}_1": moment.strftime("%H:%M:%S"),
    }


def _bundle_form(bundle: Bundle, **changes: object) -> dict[str, object]:
    data = {
        "name": bundle.name,
        "description": bundle.description,
        "price_cents": bundle.price_cents,
        "themes": [t.pk for t in bundle.themes.all()],
        **_split("available_from", bundle.available_from),
        **_split("available_until", bundle.available_until),
        "licence_days": bundle.licence_days or "",
    }
    data.update(changes)
    return data


@pytest.mark.time_machine(NOON)
def test_adding_a_bundle_in_admin_is_recorded_with_its_themes(admin_client, admin_user):
    first, second = ThemeFactory.create_batch(2)
    response = admin_client.post(
        reverse("admin:store_bundle_add"),
        {
            "name": "Spring duo",
            "description": "",
            "price_cents": "2500",
            "themes": [first.pk, second.pk],
            **_split("available_from", datetime(2026, 5, 1, tzinfo=UTC)),
            **_split("available_until", datetime(2026, 5, 8, tzinfo=UTC)),
            "licence_days": "",
        },
    )
    assert response.status_code == 302
    bundle = Bundle.objects.get(name="Spring duo")
    entry = _only_entry()
    assert (entry.action, entry.actor, entry.target_type, entry.target_id) == (
        "bundle_created",
        admin_user,
        "store.bundle",
        str(bundle.pk),
    )
    assert entry.before is None
    assert entry.after["price_cents"] == 2500
    assert entry.after["themes"] == sorted([first.pk, second.pk])
    assert set(bundle.themes.all()) == {first, second}


@pytest.mark.time_machine(NOON)
def test_changing_a_bundle_records_price_window_and_themes_before_and_after(
    admin_client,
):
    kept, dropped, added = ThemeFactory.create_batch(3)
    bundle = BundleFactory(
        themes=[kept, dropped],
        price_cents=2000,
        available_from=datetime(2026, 5, 1, tzinfo=UTC),
        available_until=datetime(2026, 5, 8, tzinfo=UTC),
    )
    url = reverse("admin:store_bundle_change", args=[bundle.pk])

    assert admin_client.post(url, _bundle_form(bundle)).status_code == 302
    assert not AuditEntry.objects.exists()  # nothing changed, nothing recorded

    response = admin_client.post(
        url,
        _bundle_form(
            bundle,
            price_cents=1800,
            themes=[kept.pk, added.pk],
            **_split("available_until", datetime(2026, 5, 15, tzinfo=UTC)),
        ),
    )
    assert response.status_code == 302
    entry = _only_entry()
    assert entry.action == "bundle_changed"
    assert entry.before == {
        "price_cents": 2000,
        "available_until": "2026-05-08T00:00:00Z",
        "themes": sorted([kept.pk, dropped.pk]),
    }
    assert entry.after == {
        "price_cents": 1800,
        "available_until": "2026-05-15T00:00:00Z",
        "themes": sorted([kept.pk, added.pk]),
    }
    assert set(bundle.themes.all()) == {kept, added}


def test_deleting_an_unsold_bundle_is_recorded(admin_client):
    theme = ThemeFactory()
    bundle = BundleFactory(themes=[theme], price_cents=2000)
    delete = reverse("admin:store_bundle_delete", args=[bundle.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert not Bundle.objects.filter(pk=bundle.pk).exists()
    entry = _only_entry()
    assert (entry.action, entry.target_id, entry.after) == (
        "bundle_deleted",
        str(bundle.pk),
        None,
    )
    assert entry.before["price_cents"] == 2000
    assert entry.before["themes"] == [theme.pk]


def test_saving_a_bundle_needs_the_bundle_permission():
    bundle = BundleFactory(price_cents=2000)
    bundle.price_cents = 1
    with pytest.raises(MissingPermission):
        save_bundle(bundle=bundle, actor=StaffUserFactory(perms=["store.view_bundle"]))
    assert Bundle.objects.get(pk=bundle.pk).price_cents == 2000
    assert not AuditEntry.objects.exists()


def _policy_form(
    policy: RevenuePolicy, tiers: list[tuple[int | None, str]], **changes: object
) -> dict[str, object]:
    existing = list(policy.tiers.order_by("pk")) if policy.pk else []
    data: dict[str, object] = {
        "name": policy.name,
        **_split("effective_from", policy.effective_from),
        **_split("created_at", policy.created_at),
        "monthly_cap_cents": policy.monthly_cap_cents or "",
        "tiers-TOTAL_FORMS": str(max(len(tiers), len(existing))),
        "tiers-INITIAL_FORMS": str(len(existing)),
        "tiers-MIN_NUM_FORMS": "0",
        "tiers-MAX_NUM_FORMS": "1000",
    }
    for i, (up_to, percent) in enumerate(tiers):
        if i < len(existing):
            data[f"tiers-{i}-id"] = existing[i].pk
        if policy.pk:
            data[f"tiers-{i}-policy"] = policy.pk
        data[f"tiers-{i}-up_to_cents"] = "" if up_to is None else up_to
        data[f"tiers-{i}-creator_percent"] = percent
    data.update(changes)
    return data


TIERS = [(100_000, "70"), (None, "55")]


@pytest.mark.time_machine(NOON)
def test_adding_a_revenue_policy_is_recorded_with_its_tiers(admin_client, admin_user):
    new = RevenuePolicy(name="Summer terms", effective_from=FUTURE)
    response = admin_client.post(
        reverse("admin:store_revenuepolicy_add"),
        _policy_form(new, TIERS, monthly_cap_cents="40000"),
    )
    assert response.status_code == 302
    policy = RevenuePolicy.objects.get(name="Summer terms")
    entry = _only_entry()
    assert (entry.action, entry.actor, entry.target_id) == (
        "revenue_policy_created",
        admin_user,
        str(policy.pk),
    )
    assert entry.after["monthly_cap_cents"] == 40_000
    assert entry.after["tiers"] == [
        {"up_to_cents": 100_000, "creator_percent": "70"},
        {"up_to_cents": None, "creator_percent": "55"},
    ]


@pytest.mark.time_machine(NOON)
def test_changing_a_future_policy_records_cap_and_tiers_before_and_after(
    admin_client,
):
    policy = RevenuePolicy.objects.create(
        name="Summer terms", effective_from=FUTURE, monthly_cap_cents=40_000
    )
    for up_to, percent in TIERS:
        policy.tiers.create(up_to_cents=up_to, creator_percent=Decimal(percent))
    url = reverse("admin:store_revenuepolicy_change", args=[policy.pk])

    assert admin_client.post(url, _policy_form(policy, TIERS)).status_code == 302
    assert not AuditEntry.objects.exists()  # nothing changed, nothing recorded

    response = admin_client.post(
        url,
        _policy_form(
            policy, [(100_000, "75"), (None, "55")], monthly_cap_cents="30000"
        ),
    )
    assert response.status_code == 302
    entry = _only_entry()
    assert entry.action == "revenue_policy_changed"
    assert entry.before == {
        "monthly_cap_cents": 40_000,
        "tiers": [
            {"up_to_cents": 100_000, "creator_percent": "70"},
            {"up_to_cents": None, "creator_percent": "55"},
        ],
    }
    assert entry.after == {
        "monthly_cap_cents": 30_000,
        "tiers": [
            {"up_to_cents": 100_000, "creator_percent": "75"},
            {"up_to_cents": None, "creator_percent": "55"},
        ],
    }


@pytest.mark.time_machine(NOON)
def test_deleting_a_future_policy_is_recorded_and_one_in_effect_is_refused(
    admin_client, admin_user
):
    future = RevenuePolicy.objects.create(name="Summer terms", effective_from=FUTURE)
    future.tiers.create(up_to_cents=None, creator_percent=Decimal(60))
    delete = reverse("admin:store_revenuepolicy_delete", args=[future.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    entry = _only_entry()
    assert entry.action == "revenue_policy_deleted"
    assert entry.before["tiers"] == [{"up_to_cents": None, "creator_percent": "60"}]

    in_effect = RevenuePolicy.objects.order_by("effective_from").first()
    with pytest.raises(InvalidRequest):
        delete_revenue_policy(policy=in_effect, actor=admin_user)
    assert RevenuePolicy.objects.filter(pk=in_effect.pk).exists()
    changelist = admin_client.get(reverse("admin:store_revenuepolicy_changelist"))
    assert "delete_selected" not in changelist.content.decode()


@pytest.mark.time_machine(NOON)
def test_a_payout_recorded_in_admin_is_on_record(admin_client, admin_user):
    creator = UserFactory()
    response = admin_client.post(
        reverse("admin:store_payout_add"),
        {
            "creator": creator.pk,
            "amount_cents": "12500",
            "reference": "wire 881",
            **_split("paid_at", NOON),
        },
    )
    assert response.status_code == 302
    payout = Payout.objects.get()
    assert payout.recorded_by == admin_user
    entry = _only_entry()
    assert (entry.action, entry.actor, entry.target_type, entry.before) == (
        "payout_recorded",
        admin_user,
        "store.payout",
        None,
    )
    assert entry.after == {
        "creator_id": creator.pk,
        "amount_cents": 12_500,
        "reference": "wire 881",
        "paid_at": "2026-04-16T12:00:00Z",
    }


def test_recording_a_payout_needs_add_payout():
    payout = Payout(creator=UserFactory(), amount_cents=100)
    with pytest.raises(MissingPermission):
        record_payout(
            payout=payout, actor=StaffUserFactory(perms=["store.view_payouts"])
        )
    assert not Payout.objects.exists()
    record_payout(payout=payout, actor=StaffUserFactory(perms=["store.add_payout"]))
    assert _only_entry().action == "payout_recorded"
