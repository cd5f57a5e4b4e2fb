"""Buying and renewing packs from the dashboard."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import ChargeRecord, Grant, Pack, Purchase
from billing.services.expirations import sweep_expirations
from billing.services.packs import purchase_pack
from tests.factories.billing import shift_term

pytestmark = pytest.mark.django_db


def buy_url(account, code="storage-50gb-once"):
    return reverse("dashboard:user-buy", args=[account.pk, code])


@pytest.mark.time_machine(datetime(2026, 4, 16, 12, tzinfo=UTC))
def test_confirmation_shows_price_new_limit_and_expiry(client, me):
    page = client.get(buy_url(me)).content.decode()
    assert "$20.00" in page
    assert "2.0 GB" in page and "52.0 GB" in page  # now -> after purchase
    expiry = timezone.now() + timedelta(days=365)
    assert expiry.strftime("%-d %b %Y") in page
    assert 'name="token"' in page


def test_confirming_buys_once_and_shows_the_receipt(client, me):
    response = client.post(buy_url(me), {"token": "tok-" + "a" * 20})
    purchase = Purchase.objects.get(account=me)
    assert response.url == reverse("dashboard:user-receipt", args=[me.pk, purchase.pk])
    receipt = client.get(response.url).content.decode()
    assert "Receipt" in receipt and "$20.00" in receipt
    assert "52.0 GB" in receipt  # the new storage limit
    charge = ChargeRecord.objects.get(account=me)
    assert charge.kind == "capacity_pack"
    assert (charge.status, charge.amount_cents) == ("paid", 2000)


def test_double_submit_and_back_resubmit_make_one_purchase(client, me):
    data = {"token": "tok-" + "b" * 20}
    first = client.post(buy_url(me), data)
    again = client.post(buy_url(me), data)  # double click, or back + resubmit
    assert first.url == again.url
    assert Purchase.objects.filter(account=me).count() == 1
    assert ChargeRecord.objects.filter(account=me).count() == 1
    assert Grant.objects.filter(account=me).count() == 1


def test_a_new_confirmation_page_buys_again(client, me):
    client.post(buy_url(me), {"token": "tok-" + "c" * 20})
    client.post(buy_url(me), {"token": "tok-" + "d" * 20})
    assert Purchase.objects.filter(account=me).count() == 2


def test_declined_payment_says_so_and_changes_nothing(client, me, settings):
    settings.BILLING_SANDBOX_DECLINE = True
    response = client.post(buy_url(me), {"token": "tok-" + "e" * 20})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Payment declined" in page and "limits are unchanged" in page
    assert not Grant.objects.filter(account=me).exists()
    assert ChargeRecord.objects.get(account=me).status == "failed"
    assert "2.0 GB" in page  # still the free limit
    # A fresh token is offered, so the user can retry once the card works.
    assert "tok-" + "e" * 20 not in page
    settings.BILLING_SANDBOX_DECLINE = False
    token = page.split('name="token" value="')[1].split('"')[0]
    client.post(buy_url(me), {"token": token})
    assert Grant.objects.filter(account=me).count() == 1


def test_missing_token_is_refused_without_buying(client, me):
    response = client.post(buy_url(me), {})
    assert "please confirm again" in response.content.decode()
    assert not Purchase.objects.filter(account=me).exists()


def test_inactive_pack_cannot_be_bought(client, me):
    Pack.objects.filter(code="storage-50gb-once").update(is_active=False)
    assert client.get(buy_url(me)).status_code == 404
    assert client.post(buy_url(me), {"token": "x" * 20}).status_code == 404


def test_company_owner_buys_slots_and_the_limit_rises(client, my_company):
    client.post(buy_url(my_company, "slots-5-once"), {"token": "s" * 20})
    page = client.get(
        reverse("dashboard:company-job-slots", args=[my_company.pk])
    ).content.decode()
    assert "0 of 7 slots in use" in page


def _subscription(account, *, days_ago=355):
    """A 365-day subscription bought ``days_ago`` days ago (by default its term
    ends in 10 days: inside the renewal window)."""
    purchase = purchase_pack(
        account=account,
        pack=Pack.objects.get(code="storage-50gb-sub"),
        actor=account.user,
        idempotency_key=f"sub-{account.pk}",
    ).purchase
    return shift_term(purchase, by=timedelta(days=days_ago))


def test_active_packs_list_renew_and_expired(client, me):
    active = _subscription(me)
    expired = purchase_pack(
        account=me,
        pack=Pack.objects.get(code="bandwidth-100gb-once"),
        actor=me.user,
        idempotency_key="old",
    ).purchase
    Purchase.objects.filter(pk=expired.pk).update(
        starts_at=timezone.now() - timedelta(days=400),
        expires_at=timezone.now() - timedelta(days=35),
    )
    url = reverse("dashboard:user-purchases", args=[me.pk])
    page = client.get(url).content.decode()
    active_part, ended_part = page.split("Expired and refunded")
    assert "Storage +50 GB" in active_part
    assert reverse("dashboard:user-renew", args=[me.pk, active.pk]) in active_part
    assert "Bandwidth +100 GB" in ended_part and "expired" in ended_part
    # One-time packs have no renew action.
    assert reverse("dashboard:user-renew", args=[me.pk, expired.pk]) not in page


def test_renewing_before_expiry_continues_without_a_gap(client, me):
    purchase = _subscription(me)
    url = reverse("dashboard:user-renew", args=[me.pk, purchase.pk])
    page = client.get(url).content.decode()
    assert "(no gap)" in page and "$18.00" in page
    response = client.post(url, {"token": "r" * 20})
    renewal = Purchase.objects.get(renewal_of=purchase)
    assert response.url == reverse("dashboard:user-receipt", args=[me.pk, renewal.pk])
    assert renewal.starts_at == purchase.expires_at
    client.post(url, {"token": "r" * 20})  # resubmitted
    assert Purchase.objects.filter(renewal_of=purchase).count() == 1
    listing = client.get(reverse("dashboard:user-purchases", args=[me.pk]))
    assert "Renewed: continues until" in listing.content.decode()


def test_renewing_after_expiry_starts_now(client, me):
    purchase = _subscription(me, days_ago=380)  # ended 15 days ago
    before = timezone.now()
    client.post(
        reverse("dashboard:user-renew", args=[me.pk, purchase.pk]), {"token": "q" * 20}
    )
    renewal = Purchase.objects.get(renewal_of=purchase)
    assert renewal.starts_at >= before


def test_renewing_twice_is_refused_with_the_reason(client, me):
    purchase = _subscription(me)
    url = reverse("dashboard:user-renew", args=[me.pk, purchase.pk])
    client.post(url, {"token": "1" * 20})
    page = client.post(url, {"token": "2" * 20}).content.decode()
    assert "already renewed" in page
    assert Purchase.objects.filter(renewal_of=purchase).count() == 1


def test_one_time_packs_cannot_be_renewed(client, me):
    purchase = purchase_pack(
        account=me,
        pack=Pack.objects.get(code="storage-50gb-once"),
        actor=me.user,
        idempotency_key="once",
    ).purchase
    url = reverse("dashboard:user-renew", args=[me.pk, purchase.pk])
    assert "Only subscription packs can be renewed" in client.get(url).content.decode()
    client.post(url, {"token": "3" * 20})
    assert not Purchase.objects.filter(renewal_of=purchase).exists()


def test_catalogue_filters_by_meter_with_and_without_htmx(client, me):
    url = reverse("dashboard:user-packs", args=[me.pk])
    full = client.get(url, {"meter": "bandwidth"}).content.decode()
    assert "Bandwidth +100 GB" in full and "Storage +50 GB" not in full
    assert "<html" in full
    partial = client.get(url, {"meter": "storage"}, headers={"HX-Request": "true"})
    body = partial.content.decode()
    assert "<html" not in body and 'id="pack-list"' in body
    assert "Storage +50 GB" in body and "Bandwidth" not in body


def test_personal_catalogue_has_no_slot_packs_company_has_both(client, me, my_company):
    personal = client.get(reverse("dashboard:user-packs", args=[me.pk]))
    assert "job slots" not in personal.content.decode()
    company = client.get(reverse("dashboard:user-packs", args=[my_company.pk]))
    assert "20 job slots" in company.content.decode()
    assert "Storage +50 GB" in company.content.decode()


def _token(page: str) -> str:
    return page.split('name="token" value="')[1].split('"')[0]


def test_back_after_buying_shows_the_purchase_and_resubmitting_buys_nothing(client, me):
    token = _token(client.get(buy_url(me)).content.decode())
    receipt = client.post(buy_url(me), {"token": token}).url
    # The browser goes Back and fetches the confirmation page again.
    again = client.get(buy_url(me)).content.decode()
    assert "You bought this pack" in again and 'name="token"' not in again
    assert receipt in again
    # ...or resubmits the form it still shows.
    assert client.post(buy_url(me), {"token": token}).url == receipt
    assert Purchase.objects.filter(account=me).count() == 1
    # "Buy it again" is a new intent with a new token.
    fresh = _token(client.get(buy_url(me), {"again": 1}).content.decode())
    assert fresh != token
    client.post(buy_url(me), {"token": fresh})
    assert Purchase.objects.filter(account=me).count() == 2


def test_the_confirmation_page_keeps_its_token_until_used(client, me):
    first = _token(client.get(buy_url(me)).content.decode())
    assert _token(client.get(buy_url(me)).content.decode()) == first
    other = _token(client.get(buy_url(me, "bandwidth-100gb-once")).content.decode())
    assert other != first


@pytest.mark.time_machine(datetime(2026, 6, 10, 12, tzinfo=UTC))
def test_a_paid_renewal_is_listed_as_upcoming_without_its_own_renew(client, me):
    purchase = _subscription(me)  # ends in 10 days
    client.post(
        reverse("dashboard:user-renew", args=[me.pk, purchase.pk]), {"token": "u" * 20}
    )
    renewal = Purchase.objects.get(renewal_of=purchase)
    page = client.get(reverse("dashboard:user-purchases", args=[me.pk])).content
    active, upcoming = page.decode().split("Upcoming terms")
    upcoming = upcoming.split("Expired and refunded")[0]
    assert f'id="purchase-{purchase.pk}"' in active
    assert "Renewed: continues until" in active
    assert f'id="purchase-{renewal.pk}"' in upcoming
    assert f"starts {renewal.starts_at.day} {renewal.starts_at:%b %Y}" in upcoming
    # Renewing the upcoming term waits for its own window.
    renew_url = reverse("dashboard:user-renew", args=[me.pk, renewal.pk])
    assert renew_url not in page.decode()
    assert "Renewal opens on" in upcoming


@pytest.mark.time_machine(datetime(2026, 6, 10, 12, tzinfo=UTC))
def test_renewing_a_year_early_is_refused_with_the_date_it_opens(client, me):
    purchase = _subscription(me, days_ago=1)
    page = client.post(
        reverse("dashboard:user-renew", args=[me.pk, purchase.pk]), {"token": "e" * 20}
    ).content.decode()
    assert "Renewal opens on" in page
    assert not Purchase.objects.filter(renewal_of=purchase).exists()


def _row(page: bytes, purchase) -> str:
    """One purchase's entry on the page, up to the next entry or section."""
    after = page.decode().split(f'id="purchase-{purchase.pk}"')[1]
    return after.split('<li class="pack ')[0].split("</section>")[0]


@pytest.mark.time_machine(datetime(2026, 6, 10, 12, tzinfo=UTC))
def test_sent_expiry_reminders_are_listed_under_their_pack(client, me):
    purchase = _subscription(me, days_ago=362)  # ends in 3 days
    sweep_expirations(at=datetime(2026, 6, 10, 12, tzinfo=UTC))
    page = client.get(reverse("dashboard:user-purchases", args=[me.pk])).content
    row = _row(page, purchase)
    assert "Reminders sent: 7 days before the end (on 10 Jun 2026)" in row


@pytest.mark.time_machine(datetime(2026, 6, 10, 12, tzinfo=UTC))
def test_an_active_pack_says_when_reminders_will_come(client, me):
    purchase = _subscription(me, days_ago=1)
    page = client.get(reverse("dashboard:user-purchases", args=[me.pk])).content
    assert "7 days and 1 day before it ends" in _row(page, purchase)


@pytest.mark.time_machine(datetime(2026, 6, 10, 12, tzinfo=UTC))
def test_the_overview_points_out_a_pack_that_ends_soon(client, me):
    soon = _subscription(me, days_ago=362)  # ends in 3 days
    page = client.get(reverse("dashboard:user-overview", args=[me.pk])).content
    packs = page.decode().split('id="packs-title"')[1].split("</section>")[0]
    assert "ends in 3 days" in packs
    purchases = reverse("dashboard:user-purchases", args=[me.pk])
    assert f'href="{purchases}#purchase-{soon.pk}">Renew' in packs
