"""Meters, plans and packs in the admin: saved through the catalogue
services, allowances typed and shown as "50 GB", packs on and off sale.
"""

import re

import pytest
from django.urls import reverse

from billing.models import (
    Meter,
    Pack,
)
from billing.units import GB
from tests.factories.billing import (
    PackFactory,
    meter,
)

from .helpers import (
    history,
    url,
)

pytestmark = pytest.mark.django_db


ADD = reverse("admin:billing_pack_add")


def pack_form(meter_code: str, amount: str, **lines: str) -> dict[str, object]:
    return {
        "code": "new-pack",
        "name": "New pack",
        "description": "",
        "category": "capacity",
        "kind": "one_time",
        "price_cents": "2500",
        "term_days": "365",
        "is_active": "on",
        "allowances-TOTAL_FORMS": "1",
        "allowances-INITIAL_FORMS": "0",
        "allowances-MIN_NUM_FORMS": "1",
        "allowances-MAX_NUM_FORMS": "1000",
        "allowances-0-meter": meter(meter_code).pk,
        "allowances-0-amount": amount,
        **lines,
    }


def inline_errors(response) -> list[str]:
    """Every error the allowance lines show, and the form's own."""
    formset = response.context["inline_admin_formsets"][0].formset
    shown = [
        error["message"]
        for form in formset.forms
        for errors in form.errors.get_json_data().values()
        for error in errors
    ]
    return shown + list(response.context["adminform"].form.non_field_errors())


def test_pack_add_with_an_allowance_line(admin_client):
    response = admin_client.post(
        url(Pack, "add"),
        {
            "code": "storage-200gb-once",
            "name": "Storage +200 GB",
            "description": "",
            "category": "capacity",
            "kind": "one_time",
            "price_cents": "6000",
            "term_days": "365",
            "is_active": "on",
            "allowances-TOTAL_FORMS": "1",
            "allowances-INITIAL_FORMS": "0",
            "allowances-MIN_NUM_FORMS": "1",
            "allowances-MAX_NUM_FORMS": "1000",
            "allowances-0-meter": meter("storage").pk,
            "allowances-0-amount": str(200 * GB),
        },
    )

    assert response.status_code == 302
    pack = Pack.objects.get(code="storage-200gb-once")
    line = pack.allowances.get()
    assert (line.meter.code, line.amount) == ("storage", 200 * GB)

    listing = admin_client.get(url(Pack, "changelist"))
    assert "$60.00" in listing.content.decode()
    assert "Storage 200.0 GB" in listing.content.decode()


def test_a_pack_needs_at_least_one_allowance_line(admin_client):
    response = admin_client.post(
        url(Pack, "add"),
        {
            "code": "empty",
            "name": "Empty",
            "category": "capacity",
            "kind": "one_time",
            "price_cents": "100",
            "term_days": "365",
            "allowances-TOTAL_FORMS": "0",
            "allowances-INITIAL_FORMS": "0",
            "allowances-MIN_NUM_FORMS": "1",
            "allowances-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 200
    assert not Pack.objects.filter(code="empty").exists()


def test_pack_price_is_shown_as_money(admin_client):
    html = admin_client.get(url(Pack, "changelist")).content.decode()
    assert "$20.00" in html  # storage-50gb-once: 2000 cents
    assert "$300.00" in html  # slots-100-once


def test_deactivate_and_activate_actions_switch_the_catalogue(admin_client):
    packs = [PackFactory(lines={"storage": GB}) for _ in range(2)]

    admin_client.post(
        url(Pack, "changelist"),
        {"action": "deactivate", "_selected_action": [p.pk for p in packs]},
    )
    assert not Pack.objects.filter(
        pk__in=[p.pk for p in packs], is_active=True
    ).exists()

    admin_client.post(
        url(Pack, "changelist"),
        {"action": "activate", "_selected_action": [packs[0].pk]},
    )
    assert Pack.objects.get(pk=packs[0].pk).is_active
    assert not Pack.objects.get(pk=packs[1].pk).is_active
    assert history(packs[0]) == ["Off sale.", "Put on sale."]
    assert history(packs[1]) == ["Off sale."]


def test_is_active_is_editable_in_the_pack_list(admin_client):
    pack = PackFactory(lines={"storage": GB})
    changelist = admin_client.get(url(Pack, "changelist"), {"q": pack.code})
    assert 'name="form-0-is_active"' in changelist.content.decode()

    response = admin_client.post(
        url(Pack, "changelist") + f"?q={pack.code}",
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-MIN_NUM_FORMS": "0",
            "form-MAX_NUM_FORMS": "1000",
            "form-0-id": pack.pk,
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    pack.refresh_from_db()
    assert not pack.is_active


def test_staff_can_add_a_meter_without_a_migration(admin_client):
    response = admin_client.post(
        url(Meter, "add"),
        {
            "code": "live_minutes",
            "name": "Live minutes",
            "unit": "second",
            "kind": "counter",
            "overage_price_cents": "2",
            "price_quantum": "60",
            "quantum_label": "minute",
            "display_order": "5",
        },
    )
    assert response.status_code == 302
    assert meter("live_minutes").kind == "counter"


@pytest.mark.parametrize(
    ("meter_code", "typed", "stored"),
    [
        ("storage", "50 GB", 50_000_000_000),
        ("bandwidth", "500 MB", 500_000_000),
        ("transcoding", "120 min", 7200),
        ("transcoding", "2 h", 7200),
        ("job_slots", "5 slots", 5),
        ("storage", "4096", 4096),  # a plain number is base units
    ],
)
def test_the_pack_form_takes_human_amounts(admin_client, meter_code, typed, stored):
    response = admin_client.post(ADD, pack_form(meter_code, typed))

    assert response.status_code == 302
    line = Pack.objects.get(code="new-pack").allowances.get()
    assert (line.meter.code, line.amount) == (meter_code, stored)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("0", "An allowance must be more than 0: a pack line adds capacity."),
        ("-5 GB", "An allowance must be more than 0: a pack line adds capacity."),
        (
            "lots",
            'Write a number, optionally with a unit ("50 GB" or "500 MB");'
            " a plain number counts bytes.",
        ),
        (
            "10 min",
            'Storage is counted in bytes: write an amount such as "50 GB" or "500 MB".',
        ),
    ],
)
def test_a_bad_amount_gets_one_clear_message_and_saves_nothing(
    admin_client, typed, message
):
    response = admin_client.post(ADD, pack_form("storage", typed))

    html = response.content.decode()
    assert response.status_code == 200
    assert inline_errors(response) == [message]
    assert message.replace('"', "&quot;") in html
    assert "pack_allowance_positive" not in html
    assert not Pack.objects.filter(code="new-pack").exists()


def test_the_edit_form_shows_stored_amounts_as_typed(admin_client):
    pack = PackFactory(lines={"storage": 50 * GB, "transcoding": 7200})

    html = admin_client.get(
        reverse("admin:billing_pack_change", args=[pack.pk])
    ).content.decode()

    assert 'value="50 GB"' in html
    assert 'value="120 min"' in html
    assert f'value="{50 * GB}"' not in html


def test_saving_the_edit_form_unchanged_keeps_the_amounts(admin_client):
    pack = PackFactory(code="kept", lines={"storage": 50 * GB})
    line = pack.allowances.get()
    data = pack_form("storage", "50 GB", **{"allowances-0-id": line.pk})
    data.update({"code": "kept", "name": pack.name, "allowances-INITIAL_FORMS": "1"})

    response = admin_client.post(
        reverse("admin:billing_pack_change", args=[pack.pk]), data
    )

    assert response.status_code == 302
    line.refresh_from_db()
    assert line.amount == 50 * GB


def test_the_allowances_heading_reads_plainly(admin_client):
    html = admin_client.get(ADD).content.decode()

    assert re.search(r'class="inline-heading">\s*Allowances\s*</h2>', html)
    assert "Add another Allowance" in html
    assert "ALLOWANCE LINE" not in html.upper()


def test_prices_are_shown_in_the_configured_currency(admin_client, settings):
    settings.BILLING_CURRENCY = "EUR"
    PackFactory(code="euro", price_cents=2500, lines={"storage": GB})

    html = admin_client.get(
        reverse("admin:billing_pack_changelist"), {"q": "euro"}
    ).content.decode()

    assert "EUR 25.00" in html
    assert "$25.00" not in html
