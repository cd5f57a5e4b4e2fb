"""Tenant isolation and roles, for every account URL of the dashboard."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import Alert, ChargeRecord, Pack, Purchase
from billing.services.packs import purchase_pack
from billing.units import period_of
from tests.factories.accounts import MembershipFactory
from tests.factories.billing import (
    OverageConsentFactory,
    company_account,
    owner_of,
    personal_account,
)

pytestmark = pytest.mark.django_db

GET_PAGES = [
    ("dashboard:user-overview", []),
    ("dashboard:user-usage", []),
    ("dashboard:user-packs", []),
    ("dashboard:user-buy", ["storage-50gb-once"]),
    ("dashboard:user-purchases", []),
    ("dashboard:user-overage", []),
    ("dashboard:user-billing", []),
    ("dashboard:user-pay", []),
    ("dashboard:company-job-slots", []),
]
POST_ACTIONS = [
    ("dashboard:user-buy", ["storage-50gb-once"], {"token": "t" * 20}),
    (
        "dashboard:user-overage",
        [],
        {"meter": "bandwidth", "cap": "5", "scope": "period"},
    ),
    ("dashboard:user-revoke-consent", ["bandwidth"], {}),
    ("dashboard:user-pay", [], {}),
]


def _purchase(account):
    return purchase_pack(
        account=account,
        pack=Pack.objects.get(code="storage-50gb-sub"),
        actor=owner_of(account),
        idempotency_key=f"setup-{account.pk}",
    ).purchase


def _alert(account):
    return Alert.objects.create(
        account=account,
        kind=Alert.Kind.EXCEEDED,
        period_start=period_of(timezone.now()).start,
        dedupe_key=f"test-{account.pk}",
        message="Bandwidth has reached its limit.",
    )


@pytest.mark.parametrize(("name", "args"), GET_PAGES)
def test_someone_elses_account_is_a_404_on_every_page(client, me, name, args):
    stranger = company_account()
    response = client.get(reverse(name, args=[stranger.pk, *args]))
    assert response.status_code == 404


def test_someone_elses_receipts_renewals_and_alerts_are_404s(client, me):
    stranger = personal_account()
    purchase = _purchase(stranger)
    alert = _alert(stranger)
    urls = [
        ("get", reverse("dashboard:user-receipt", args=[stranger.pk, purchase.pk])),
        ("get", reverse("dashboard:user-renew", args=[stranger.pk, purchase.pk])),
        ("post", reverse("dashboard:user-renew", args=[stranger.pk, purchase.pk])),
        (
            "post",
            reverse("dashboard:user-dismiss-alert", args=[stranger.pk, alert.pk]),
        ),
    ]
    for method, url in urls:
        assert getattr(client, method)(url, {"token": "x" * 20}).status_code == 404
    # Nor through one's own account id with someone else's object id.
    mine = [
        reverse("dashboard:user-receipt", args=[me.pk, purchase.pk]),
        reverse("dashboard:user-renew", args=[me.pk, purchase.pk]),
    ]
    for url in mine:
        assert client.get(url).status_code == 404
    dismiss = reverse("dashboard:user-dismiss-alert", args=[me.pk, alert.pk])
    assert client.post(dismiss).status_code == 404
    alert.refresh_from_db()
    assert alert.dismissed_at is None


@pytest.mark.parametrize(("name", "args", "data"), POST_ACTIONS)
def test_someone_elses_account_is_a_404_for_every_action(client, me, name, args, data):
    stranger = personal_account()
    OverageConsentFactory(account=stranger)
    pending = ChargeRecord.objects.create(
        account=stranger,
        kind=ChargeRecord.Kind.ADJUSTMENT,
        amount_cents=500,
        status=ChargeRecord.Status.PENDING,
        idempotency_key=f"pending-{stranger.pk}",
    )
    response = client.post(reverse(name, args=[stranger.pk, *args]), data)
    assert response.status_code == 404
    assert not Purchase.objects.filter(account=stranger).exists()
    assert stranger.consents.filter(revoked_at__isnull=True).count() == 1
    pending.refresh_from_db()
    assert pending.status == ChargeRecord.Status.PENDING


@pytest.mark.parametrize(("name", "args"), GET_PAGES)
def test_a_member_can_view_every_page(client, member_company, name, args):
    response = client.get(reverse(name, args=[member_company.pk, *args]))
    assert response.status_code == 200
    text = " ".join(response.content.decode().split())
    # Packs says it its own way (whom to ask); every other page the same way.
    said = (
        "Only owners and admins of"
        if name == "dashboard:user-packs"
        else ("only its owners and admins can buy")
    )
    assert text.count(said) == 1


@pytest.mark.parametrize(("name", "args", "data"), POST_ACTIONS)
def test_a_member_cannot_buy_consent_revoke_or_pay(
    client, member_company, name, args, data
):
    OverageConsentFactory(account=member_company)
    ChargeRecord.objects.create(
        account=member_company,
        kind=ChargeRecord.Kind.ADJUSTMENT,
        amount_cents=500,
        status=ChargeRecord.Status.PENDING,
        idempotency_key="pending-member",
    )
    response = client.post(reverse(name, args=[member_company.pk, *args]), data)
    assert response.status_code == 403
    assert not Purchase.objects.filter(account=member_company).exists()
    assert member_company.consents.filter(revoked_at__isnull=True).count() == 1
    assert member_company.charges.filter(status="pending").count() == 1


def test_a_member_sees_why_buttons_are_missing(client, member_company):
    packs = client.get(reverse("dashboard:user-packs", args=[member_company.pk]))
    buy_url = reverse("dashboard:user-buy", args=[member_company.pk, "slots-5-once"])
    # Said once, with whom to ask, instead of on every card.
    assert packs.content.decode().count("Only owners and admins of") == 1
    assert buy_url not in packs.content.decode()
    confirm = client.get(
        reverse("dashboard:user-buy", args=[member_company.pk, "slots-5-once"])
    ).content.decode()
    assert "Confirm and pay" not in confirm
    assert "Only owners and admins of" in confirm


def test_a_company_admin_can_act(client, me):
    account = company_account()
    MembershipFactory(company=account.company, user=me.user, admin=True)
    response = client.post(
        reverse("dashboard:user-buy", args=[account.pk, "slots-5-once"]),
        {"token": "a" * 20},
    )
    assert response.status_code == 302
    assert account.purchases.count() == 1


def test_job_slots_page_is_a_404_for_personal_accounts(client, me):
    response = client.get(reverse("dashboard:company-job-slots", args=[me.pk]))
    assert response.status_code == 404


def test_slot_packs_cannot_be_bought_for_a_personal_account(client, me):
    url = reverse("dashboard:user-buy", args=[me.pk, "slots-5-once"])
    assert client.get(url).status_code == 404
    assert client.post(url, {"token": "b" * 20}).status_code == 404
    assert not me.purchases.exists()


@pytest.mark.parametrize(("name", "args"), GET_PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, name, args):
    account = company_account()
    url = reverse(name, args=[account.pk, *args])
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("dashboard:login"))


@pytest.mark.parametrize(("name", "args", "data"), POST_ACTIONS)
def test_every_action_needs_the_csrf_token(me, name, args, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(me.user)
    ChargeRecord.objects.create(
        account=me,
        kind=ChargeRecord.Kind.ADJUSTMENT,
        amount_cents=500,
        status=ChargeRecord.Status.PENDING,
        idempotency_key="pending-csrf",
    )
    response = client.post(reverse(name, args=[me.pk, *args]), data)
    assert response.status_code == 403
    assert not me.purchases.exists() and not me.consents.exists()
    assert me.charges.get().status == "pending"


def test_a_member_sees_alerts_but_cannot_dismiss_them(client, member_company):
    alert = _alert(member_company)
    page = client.get(reverse("dashboard:user-overview", args=[member_company.pk]))
    assert alert.message in page.content.decode()
    dismiss = reverse(
        "dashboard:user-dismiss-alert", args=[member_company.pk, alert.pk]
    )
    assert dismiss not in page.content.decode()
    assert client.post(dismiss).status_code == 403
    alert.refresh_from_db()
    assert alert.dismissed_at is None
