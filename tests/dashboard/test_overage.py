"""Confirming and revoking overage from the dashboard."""

from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from billing.models import OverageConsent
from billing.services.usage import record_usage_event
from billing.units import GB
from tests.factories.billing import OverageConsentFactory, meter, personal_account

pytestmark = pytest.mark.django_db


def overage_url(account):
    return reverse("dashboard:user-overage", args=[account.pk])


def exceed_bandwidth(account, gb=6, *, event_id=None):
    record_usage_event(
        event_id=event_id or f"bw-{account.pk}",
        account=account,
        meter="bandwidth",
        quantity=gb * GB,
    )


@contextmanager
def at(client, account, day, hour=12):
    """Act at an instant in March 2027, signed in then (sessions expire)."""
    with time_machine.travel(datetime(2027, 3, day, hour, tzinfo=UTC), tick=False):
        client.force_login(account.user)
        yield


def consent_form(cap, scope="period"):
    return {"meter": "bandwidth", "cap": cap, "scope": scope}


@pytest.mark.time_machine(datetime(2027, 3, 20, 12, tzinfo=UTC))
def test_exceeded_meter_explains_the_pause_and_prices_the_overage(client, me):
    exceed_bandwidth(me)
    page = client.get(overage_url(me)).content.decode()
    assert "state-exceeded" in page
    assert "paused until you buy a pack" in page
    assert "$0.09 per GB" in page
    # 1 GB past the 5 GB allowance at $0.09 a GB, used without consent.
    section = page.split('id="meter-bandwidth"')[1].split("</section>")[0]
    assert "Not billed</dt><dd>$0.09" in section
    assert "without a live consent: never billed" in section


@pytest.mark.time_machine(datetime(2027, 3, 20, 12, tzinfo=UTC))
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
    OverageConsentFactory(account=me, cap_cents=500)
    client.post(overage_url(me), {"meter": "bandwidth", "cap": "9", "scope": "period"})
    live = OverageConsent.objects.filter(account=me, revoked_at__isnull=True)
    assert [c.cap_cents for c in live] == [900]


def test_revoking_stops_consent(client, me):
    OverageConsentFactory(account=me, meter=meter("bandwidth"))
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
    with at(client, me, 20, 10):
        client.post(overage_url(me), consent_form("0.05"))
    with at(client, me, 20, 12):
        exceed_bandwidth(me)  # 1 GB over under consent: $0.09, past the cap
        page = client.get(overage_url(me)).content.decode()
    section = page.split('id="meter-bandwidth"')[1].split("</section>")[0]
    projected = section.split("Projected by period end</dt><dd>")[1].strip()
    # 19.5 days into March: 6 GB -> 6e9 * 31 / 19.5 = 9,538,461,538 bytes by
    # the end; 3.538 GB more excess at $0.09 = 31.85c -> 32c, plus the 9c
    # already used: 41c uncapped, 5c shown.
    assert projected.startswith("$0.05 ")
    assert "uncapped it would be $0.41" in projected
    # No daily snapshots yet: the rate is the period's so far.
    assert "at your rate since 1 Mar 2027" in projected
    assert "Beyond the cap</dt><dd>$0.04" in section


def test_a_cap_below_the_overage_already_used_is_explained(client, me):
    with at(client, me, 2):
        client.post(overage_url(me), consent_form("5"))
    with at(client, me, 3):
        exceed_bandwidth(me)  # $0.09 of overage used under the consent
    with at(client, me, 4):
        page = client.post(
            overage_url(me), consent_form("0.05"), follow=True
        ).content.decode()
    assert "at most $0.05 is billed" in page and "stays refused" in page


def test_usage_before_the_consent_is_not_billed_and_the_page_says_so(client, me):
    with at(client, me, 2):
        exceed_bandwidth(me)  # 1 GB over before any consent
    with at(client, me, 3):
        client.post(overage_url(me), consent_form("5"))
        exceed_bandwidth(me, 1, event_id="after")  # 1 GB more, consented
        page = client.get(overage_url(me)).content.decode()
    section = page.split('id="meter-bandwidth"')[1].split("</section>")[0]
    assert 'Billable so far</dt><dd><span class="figure-sm">$0.09' in section
    assert "Not billed</dt><dd>$0.09" in section


def test_after_revoking_the_page_says_what_is_still_billed(client, me):
    with at(client, me, 2):
        client.post(overage_url(me), consent_form("5"))
    with at(client, me, 3):
        exceed_bandwidth(me)  # 1 GB over while the consent is live: $0.09
    with at(client, me, 4):
        client.post(reverse("dashboard:user-revoke-consent", args=[me.pk, "bandwidth"]))
    with at(client, me, 5):
        exceed_bandwidth(me, 2, event_id="after-revoke")  # never billed: $0.18
        section = (
            client.get(overage_url(me))
            .content.decode()
            .split('id="meter-bandwidth"')[1]
            .split("</section>")[0]
        )
    assert 'Billable so far</dt><dd><span class="figure-sm">$0.09' in section
    assert "earlier consent this period" in section
    assert "Not billed</dt><dd>$0.18" in section


def card(page: str, code: str = "bandwidth") -> str:
    return page.split(f'id="meter-{code}"')[1].split("</section>")[0]


def blocked_at_a_five_cent_cap(client, me):
    """1 GB past the limit under a $0.05 cap: 9c consented, 5c billable, 4c beyond."""
    with at(client, me, 2):
        client.post(overage_url(me), consent_form("0.05"))
    with at(client, me, 3):
        exceed_bandwidth(me)


def test_raising_the_cap_names_the_past_overage_it_bills_before_billing_it(client, me):
    blocked_at_a_five_cent_cap(client, me)
    with at(client, me, 4):
        page = client.get(overage_url(me)).content.decode()
        assert "up to $0.04" in card(page) and "Raising the cap also bills" in card(
            page
        )

        asked = client.post(overage_url(me), consent_form("1.00"))
        assert asked.status_code == 200
        section = card(asked.content.decode())
        assert "a cap of $1.00 makes $0.04 of overage already used billable." in (
            section
        )
        assert 'name="acknowledged" value="4"' in section
        assert "Confirm: $0.04 more billed at period close" in section
        # Nothing changed yet: the $0.05 cap still holds.
        live = OverageConsent.objects.get(account=me, revoked_at__isnull=True)
        assert live.cap_cents == 5

        confirmed = client.post(
            overage_url(me), {**consent_form("1.00"), "acknowledged": "4"}, follow=True
        )
        live = OverageConsent.objects.get(account=me, revoked_at__isnull=True)
        assert live.cap_cents == 100
        section = card(confirmed.content.decode())
        assert "Billable so far this period: $0.09" in section


def test_a_stale_acknowledgement_asks_again(client, me):
    blocked_at_a_five_cent_cap(client, me)
    with at(client, me, 4):
        # Shown 1c (say, before more usage): the change would bill 4c.
        asked = client.post(
            overage_url(me), {**consent_form("1.00"), "acknowledged": "1"}
        )
    assert "makes $0.04 of overage already used billable." in card(
        asked.content.decode()
    )
    assert (
        OverageConsent.objects.get(account=me, revoked_at__isnull=True).cap_cents == 5
    )


def test_a_first_consent_bills_nothing_past_and_asks_once(client, me):
    with at(client, me, 2):
        exceed_bandwidth(me)  # before any consent: never billable
        response = client.post(overage_url(me), consent_form("5"))
    assert response.status_code == 302
    assert OverageConsent.objects.filter(account=me, revoked_at__isnull=True).exists()


def test_the_result_of_a_consent_is_shown_in_the_meters_card(client, me):
    with at(client, me, 2):
        page = client.post(overage_url(me), consent_form("5"), follow=True)
    html = page.content.decode()
    notices = card(html).split('aria-live="polite"')[1].split("</div>")[0]
    assert "Overage on Bandwidth confirmed, capped at $5.00." in notices
    top = html.split('<ul class="messages"')
    assert len(top) == 1 or "confirmed" not in top[1].split("</ul>")[0]


def test_an_htmx_consent_swaps_the_card_even_when_the_form_has_errors(client, me):
    response = client.post(
        overage_url(me), consent_form("abc"), headers={"HX-Request": "true"}
    )
    assert response.status_code == 200  # htmx swaps only 2xx answers
    assert 'class="field-error"' in card(response.content.decode())


def test_revoking_asks_first_and_says_what_stays_billed(client, me):
    with at(client, me, 2):
        client.post(overage_url(me), consent_form("5"))
    with at(client, me, 3):
        exceed_bandwidth(me)  # 9c used under the consent
    url = reverse("dashboard:user-revoke-consent", args=[me.pk, "bandwidth"])
    with at(client, me, 4):
        asked = client.get(url).content.decode()
        assert "Revoke overage consent for bandwidth?" in asked
        assert "$0.09</strong> of overage used while the consent was live" in asked
        assert OverageConsent.objects.filter(account=me, revoked_at__isnull=True)

        done = client.post(url, follow=True).content.decode()
    assert not OverageConsent.objects.filter(account=me, revoked_at__isnull=True)
    assert "$0.09 used while it was live is still billed" in card(done)


def test_the_revoke_confirmation_is_for_managers_only(client, member_company):
    OverageConsentFactory(account=member_company, meter=meter("bandwidth"))
    url = reverse(
        "dashboard:user-revoke-consent", args=[member_company.pk, "bandwidth"]
    )
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    assert OverageConsent.objects.filter(revoked_at__isnull=True).exists()


def projected(page: str, code: str = "bandwidth") -> str:
    return (
        card(page, code).split("Projected by period end</dt><dd>")[1].split("</dd>")[0]
    )


def test_there_is_no_projection_from_the_first_days_of_a_period(client, me):
    with at(client, me, 2):
        exceed_bandwidth(me)  # 6 GB on the 2nd: 1.5 days of data
        page = client.get(overage_url(me)).content.decode()
    shown = projected(page)
    assert "Not yet:" in shown and "fewer than 3 days of usage this period" in shown
    assert "$" not in shown


def test_the_projection_follows_the_last_seven_days(client):
    """A burst early in the month, then a quiet week: the projection follows
    the week, not the month's average."""
    from billing.services.snapshots import take_usage_snapshots

    # Snapshots start when the account exists: open it before March.
    with time_machine.travel(datetime(2027, 2, 20, tzinfo=UTC), tick=False):
        me = personal_account(email="weekly@example.com")
    with at(client, me, 1, 1):
        exceed_bandwidth(me, 6)  # 6 GB on 1 March, then nothing
    for day in range(1, 20):
        take_usage_snapshots(
            day=datetime(2027, 3, day).date(),
            at=datetime(2027, 3, day + 1, 0, 5, tzinfo=UTC),
        )
    with at(client, me, 20, 12):
        exceed_bandwidth(me, 1, event_id="today")  # 1 GB today
        page = client.get(overage_url(me)).content.decode()
    shown = projected(page)
    # Since 13 Mar 00:00 (7.5 days): 1 GB -> 0.1333 GB a day; 11.5 days left:
    # 1.533 GB more, 8.533 GB by the end, 3.533 GB past 5 GB at $0.09: 31.8c.
    # The month's average (7 GB in 19.5 days) would say 11.13 GB: $0.55.
    assert "at your rate since 13 Mar 2027" in shown
    assert shown.strip().startswith("$0.32 ")
