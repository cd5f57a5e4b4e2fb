"""A confirmation form's token sent to another pack's page buys nothing."""

import pytest
from django.urls import reverse

from billing.models import ChargeRecord, Pack, Purchase

pytestmark = pytest.mark.django_db


def test_a_token_replayed_on_another_packs_page_is_refused_with_a_message(client, me):
    token = "tok-" + "x" * 20
    client.post(
        reverse("dashboard:user-buy", args=[me.pk, "storage-50gb-once"]),
        {"token": token},
    )

    response = client.post(
        reverse("dashboard:user-buy", args=[me.pk, "bandwidth-100gb-once"]),
        {"token": token},
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "already used for another purchase" in page
    assert "nothing was charged" in page
    assert token not in page  # a fresh token, so confirming again buys it
    assert [p.pack.code for p in Purchase.objects.filter(account=me)] == [
        "storage-50gb-once"
    ]
    assert ChargeRecord.objects.filter(account=me).count() == 1


def test_a_pack_price_changed_after_the_page_was_shown_charges_nothing(client, me):
    url = reverse("dashboard:user-buy", args=[me.pk, "storage-50gb-once"])
    page = client.get(url).content.decode()
    assert 'name="price_cents" value="2000"' in page
    token = page.split('name="token" value="')[1].split('"')[0]
    Pack.objects.filter(code="storage-50gb-once").update(price_cents=2500)

    response = client.post(url, {"token": token, "price_cents": "2000"})

    html = response.content.decode()
    assert "changed from $20.00 to $25.00" in html and "Nothing was charged" in html
    assert not Purchase.objects.filter(account=me).exists()
    assert not ChargeRecord.objects.filter(account=me).exists()
    assert "Confirm and pay $25.00" in html
