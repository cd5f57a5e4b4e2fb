"""Confirming and revoking overage from the dashboard."""

import pytest
from django.urls import reverse

from billing.models import OverageConsent
from billing.services.usage import record_usage_event
from billing.units import GB
from tests.factories.billing import ConsentFactory, meter

pytestmark = pytest.mark.django_db


def overage_url(account):
    return reverse("dashboard:user-overage", args=[account.pk])


def exceed_bandwidth(account, gb=6):
    record_usage_event(
        event_id=f"bw-{account.pk}",
        account=account,
        meter="bandwidth",
        quantity=gb * GB,
    )


def test_exceeded_meter_explains_the_pause_and_prices_the_overage(client, me):
    exceed_bandwidth(me)
    page = client.get(overage_url(me)).content.decode()
    assert "state-exceeded" in page
    assert "paused until you buy a pack" in page
    assert "$0.09 per GB" in page
    assert "not billed: you have not consented ($0.09 at the overage price)" in page


def test_consent_turns_exceeded_into_overage(client, me):
    exceed_bandwidth(me)
    response = client.post(
        overage_url(me), {"meter": "bandwidth", "cap": "25.00", "scope": "recurring"}
    )
    assert response.status_code == 302
    consent = OverageConsent.objects.get(account=me, revoked_at__isnull=True)
    assert (consent.cap_cents, consent.recurring) == (2500, True)
    assert consent.given_by == me.user
    overview = client.get(
        reverse("dashboard:user-overview", args=[me.pk])
    ).content.decode()
    assert "state-overage" in overview and "cap of $25.00" in overview
    page = client.get(overage_url(me)).content.decode()
    assert "Consent active:" in page and "every period until revoked" in page


@pytest.mark.parametrize("cap", ["0", "-5", "abc", "", "1000000", "1.234"])
def test_a_bad_cap_is_explained_and_records_nothing(client, me, cap):
    response = client.post(
        overage_url(me), {"meter": "bandwidth", "cap": cap, "scope": "period"}
    )
    assert response.status_code == 422
    assert 'class="field-error"' in response.content.decode()
    assert not OverageConsent.objects.filter(account=me).exists()


def test_hard_limits_and_unknown_meters_cannot_be_consented(client, my_company):
    for code in ("job_slots", "nope"):
        response = client.post(
            overage_url(my_company), {"meter": code, "cap": "5", "scope": "period"}
        )
        assert response.status_code == 422
    assert not OverageConsent.objects.exists()


def test_a_new_cap_replaces_the_old_one(client, me):
    ConsentFactory(account=me, cap_cents=500)
    client.post(overage_url(me), {"meter": "bandwidth", "cap": "9", "scope": "period"})
    live = OverageConsent.objects.filter(account=me, revoked_at__isnull=True)
    assert [c.cap_cents for c in live] == [900]


def test_revoking_stops_consent(client, me):
    ConsentFactory(account=me, meter=meter("bandwidth"))
    response = client.post(
        reverse("dashboard:user-revoke-consent", args=[me.pk, "bandwidth"]),
        follow=True,
    )
    assert "revoked" in response.content.decode()
    assert not OverageConsent.objects.filter(account=me, revoked_at__isnull=True)


def test_job_slots_are_not_offered_overage(client, my_company):
    page = client.get(overage_url(my_company)).content.decode()
    assert 'id="meter-bandwidth"' in page
    assert 'id="meter-job_slots"' not in page


def test_the_projection_shown_never_exceeds_the_cap(client, me):
    exceed_bandwidth(me)  # 1 GB over: $0.09 accrued already
    ConsentFactory(account=me, meter=meter("bandwidth"), cap_cents=5)
    page = client.get(overage_url(me)).content.decode()
    section = page.split('id="meter-bandwidth"')[1].split("</section>")[0]
    projected = section.split("Projected by period end</dt><dd>")[1]
    assert projected.startswith("$0.05 ")
    assert "uncapped it would be $0." in projected


def test_a_cap_below_the_overage_already_used_is_explained(client, me):
    exceed_bandwidth(me)  # $0.09 of overage already used
    page = client.post(
        overage_url(me),
        {"meter": "bandwidth", "cap": "0.05", "scope": "period"},
        follow=True,
    ).content.decode()
    assert "at most $0.05 is billed" in page and "stays refused" in page


def test_after_revoking_the_page_says_what_is_still_billed(client, me):
    exceed_bandwidth(me)
    client.post(overage_url(me), {"meter": "bandwidth", "cap": "5", "scope": "period"})
    client.post(reverse("dashboard:user-revoke-consent", args=[me.pk, "bandwidth"]))
    section = (
        client.get(overage_url(me)).content.decode().split('id="meter-bandwidth"')[1]
    )
    assert "billed at period close up to $5.00" in section
    assert "not billed" not in section.split("</section>")[0]
