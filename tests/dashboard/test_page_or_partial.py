"""One page, two answers: the whole page, or its named partial for htmx.

Also what the pages word from the page selectors: the next steps on a quota
card and whether a balance is due.
"""

from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import Alert
from billing.units import GB, period_of
from tests.factories.billing import (
    ChargeRecordFactory,
    OverageConsentFactory,
    meter,
    record_usage,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.time_machine(datetime(2026, 4, 16, 12, tzinfo=UTC)),
]

HTMX = {"HX-Request": "true"}
HISTORY_RESTORE = {"HX-Request": "true", "HX-History-Restore-Request": "true"}


@pytest.mark.parametrize(
    ("name", "partial_id"),
    [("user-usage", "usage-charts"), ("user-packs", "pack-list")],
)
def test_htmx_gets_the_partial_and_a_history_restore_the_whole_page(
    client, me, name, partial_id
):
    url = reverse(f"dashboard:{name}", args=[me.pk])
    whole = client.get(url).content.decode()
    partial = client.get(url, headers=HTMX).content.decode()
    restored = client.get(url, headers=HISTORY_RESTORE).content.decode()
    assert "<html" in whole and f'id="{partial_id}"' in whole
    assert "<html" not in partial and f'id="{partial_id}"' in partial
    assert "<html" in restored and f'id="{partial_id}"' in restored


@pytest.mark.parametrize("name", ["user-usage", "user-packs", "user-overage"])
def test_pages_that_answer_htmx_differently_vary_on_its_header(client, me, name):
    response = client.get(reverse(f"dashboard:{name}", args=[me.pk]), headers=HTMX)
    assert "HX-Request" in response.headers.get("Vary", "")


def test_dismissing_an_alert_varies_on_the_htmx_header(client, me):
    alert = Alert.objects.create(
        account=me,
        kind=Alert.Kind.WARNING_80,
        period_start=period_of(timezone.now()).start,
        dedupe_key="vary",
        message="Storage is at 85% of its limit.",
    )
    url = reverse("dashboard:user-dismiss-alert", args=[me.pk, alert.pk])
    response = client.post(url, headers=HTMX)
    assert response.content == b""
    assert "HX-Request" in response.headers.get("Vary", "")


def _card(page: str, code: str) -> str:
    return page.split(f'id="quota-{code}"')[1].split("</li>")[0]


def test_quota_cards_offer_the_next_steps_the_state_allows(client, me):
    url = reverse("dashboard:user-overview", args=[me.pk])
    record_usage(me, "storage", 17 * GB // 10)  # a warning
    record_usage(me, "bandwidth", 6 * GB)  # past the limit
    page = client.get(url).content.decode()
    storage, bandwidth = _card(page, "storage"), _card(page, "bandwidth")
    assert "Buy a pack" in storage and "overage" not in storage
    assert "Buy a pack" in bandwidth and "Confirm overage" in bandwidth
    assert "#meter-bandwidth" in bandwidth
    assert 'class="button small' not in _card(page, "transcoding")
    OverageConsentFactory(account=me, meter=meter("bandwidth"))
    bandwidth = _card(client.get(url).content.decode(), "bandwidth")
    assert "Review overage" in bandwidth and "Confirm overage" not in bandwidth


def test_a_balance_is_called_due_and_offered_for_payment_only_when_positive(client, me):
    overview = reverse("dashboard:user-overview", args=[me.pk])
    billing = reverse("dashboard:user-billing", args=[me.pk])
    pay = reverse("dashboard:user-pay", args=[me.pk])
    assert "Nothing is due." in client.get(overview).content.decode()
    assert pay not in client.get(billing).content.decode()
    ChargeRecordFactory(account=me, amount_cents=1234)
    assert "Pending charges are due." in client.get(overview).content.decode()
    assert "Pay $12.34…" in client.get(billing).content.decode()
