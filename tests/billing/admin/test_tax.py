"""Tax rates and billing details in the admin: rates saved on record and
history once invoiced; billing details saved through their service.
"""

from datetime import date
from decimal import Decimal

import pytest
import time_machine

from billing.errors import InvalidRequest, MissingPermission
from billing.models import (
    AuditEntry,
    BillingDetails,
    Invoice,
    TaxRate,
)
from billing.services.tax_rates import delete_tax_rate, save_tax_rate
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import (
    personal_account,
)

from .helpers import (
    DEC_2,
    NOV_5,
    storage_charge,
    url,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def tax_staff(client):
    user = StaffUserFactory(
        perms=[
            "billing.view_taxrate",
            "billing.add_taxrate",
            "billing.change_taxrate",
            "billing.delete_taxrate",
        ]
    )
    client.force_login(user)
    client.user = user
    return client


def rate_form(**overrides: str) -> dict[str, str]:
    return {
        "country": "IE",
        "name": "VAT",
        "rate_percent": "23",
        "valid_from": "2020-01-01",
        **overrides,
    }


def invoiced_in_ireland() -> Invoice:
    """An invoice of 5 Nov 2026 to a buyer without a country: taxed in IE."""
    with time_machine.travel(NOV_5, tick=False):
        account = personal_account()
    return storage_charge(account, key="ie").invoice


@time_machine.travel(DEC_2, tick=False)
def test_staff_add_a_rate_on_record(tax_staff):
    response = tax_staff.post(url(TaxRate, "add"), rate_form())

    assert response.status_code == 302
    rate = TaxRate.objects.get()
    assert (rate.country, rate.rate_percent) == ("IE", Decimal("23.00"))
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.target_id) == (
        "tax_rate_created",
        tax_staff.user,
        str(rate.pk),
    )
    assert entry.after == {
        "rate_percent": "23.00",
        "valid_from": "2020-01-01",
        "name": "VAT",
        "country": "IE",
    }


@time_machine.travel(DEC_2, tick=False)
def test_a_rate_not_yet_invoiced_can_change_and_the_change_is_recorded(tax_staff):
    rate = TaxRate.objects.create(
        country="IE", rate_percent=Decimal(23), valid_from=date(2027, 1, 1)
    )

    response = tax_staff.post(
        url(TaxRate, "change", rate.pk),
        rate_form(rate_percent="21", valid_from="2027-01-01"),
    )

    assert response.status_code == 302
    rate.refresh_from_db()
    assert rate.rate_percent == Decimal("21.00")
    entry = AuditEntry.objects.get()
    assert entry.action == "tax_rate_changed"
    assert (entry.before, entry.after) == (
        {"rate_percent": "23.00"},
        {"rate_percent": "21.00"},
    )


@time_machine.travel(DEC_2, tick=False)
def test_a_rate_invoices_were_issued_at_is_read_only(tax_staff):
    rate = TaxRate.objects.create(
        country="IE", rate_percent=Decimal(23), valid_from=date(2020, 1, 1)
    )
    invoiced_in_ireland()

    page = tax_staff.get(url(TaxRate, "change", rate.pk))

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert "it is history now" in page.content.decode()
    changed = tax_staff.post(
        url(TaxRate, "change", rate.pk), rate_form(rate_percent="21")
    )
    assert changed.status_code == 403
    assert (
        tax_staff.post(url(TaxRate, "delete", rate.pk), {"post": "yes"}).status_code
        == 403
    )
    rate.refresh_from_db()
    assert rate.rate_percent == Decimal("23.00")
    assert not AuditEntry.objects.exists()


@time_machine.travel(DEC_2, tick=False)
def test_a_new_rate_from_after_the_last_invoice_is_the_way_to_change(tax_staff):
    TaxRate.objects.create(
        country="IE", rate_percent=Decimal(23), valid_from=date(2020, 1, 1)
    )
    invoice = invoiced_in_ireland()

    backdated = tax_staff.post(
        url(TaxRate, "add"), rate_form(rate_percent="21", valid_from="2026-11-01")
    )
    same_day = tax_staff.post(
        url(TaxRate, "add"), rate_form(rate_percent="21", valid_from="2026-11-05")
    )
    next_day = tax_staff.post(
        url(TaxRate, "add"), rate_form(rate_percent="21", valid_from="2026-11-06")
    )

    assert backdated.status_code == same_day.status_code == 200
    assert f"Invoice {invoice.number} was issued on 2026-11-05" in (
        backdated.content.decode()
    )
    assert next_day.status_code == 302
    assert list(TaxRate.objects.values_list("valid_from", flat=True)) == [
        date(2026, 11, 6),
        date(2020, 1, 1),
    ]


@time_machine.travel(DEC_2, tick=False)
def test_other_countries_rates_and_reverse_charged_invoices_lock_nothing(tax_staff):
    german = TaxRate.objects.create(
        country="DE", rate_percent=Decimal(19), valid_from=date(2020, 1, 1)
    )
    invoiced_in_ireland()

    response = tax_staff.post(
        url(TaxRate, "change", german.pk),
        rate_form(country="DE", rate_percent="16", valid_from="2020-01-01"),
    )

    assert response.status_code == 302
    german.refresh_from_db()
    assert german.rate_percent == Decimal("16.00")


@time_machine.travel(DEC_2, tick=False)
def test_deleting_a_rate_is_checked_and_recorded():
    staff = StaffUserFactory(perms=["billing.delete_taxrate"])
    used = TaxRate.objects.create(
        country="IE", rate_percent=Decimal(23), valid_from=date(2020, 1, 1)
    )
    unused = TaxRate.objects.create(
        country="IE", rate_percent=Decimal(21), valid_from=date(2027, 1, 1)
    )
    invoiced_in_ireland()

    with pytest.raises(InvalidRequest, match="Issued invoices keep their rate"):
        delete_tax_rate(tax_rate=used, actor=staff)
    delete_tax_rate(tax_rate=unused, actor=staff)

    assert list(TaxRate.objects.all()) == [used]
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.before["rate_percent"]) == ("tax_rate_deleted", "21.00")


@time_machine.travel(DEC_2, tick=False)
def test_the_service_checks_the_permission_and_the_invoices_itself():
    rate = TaxRate(country="IE", rate_percent=Decimal(21), valid_from=date(2026, 11, 1))
    invoiced_in_ireland()

    with pytest.raises(MissingPermission):
        save_tax_rate(tax_rate=rate, actor=StaffUserFactory())
    with pytest.raises(InvalidRequest, match="the rate of that day cannot change"):
        save_tax_rate(
            tax_rate=rate, actor=StaffUserFactory(perms=["billing.add_taxrate"])
        )
    assert not TaxRate.objects.exists()


@pytest.fixture
def details_staff(client):
    client.force_login(
        StaffUserFactory(
            perms=[
                "billing.view_billingdetails",
                "billing.add_billingdetails",
                "billing.change_billingdetails",
                "billing.view_account",
            ]
        )
    )
    return client


def details_form(account, **overrides: str) -> dict[str, str]:
    return {
        "account": str(account.pk),
        "legal_name": "Buyer GmbH",
        "address": "1 Main Street\n10115 Berlin",
        "country": "DE",
        "vat_id": "",
        **overrides,
    }


def test_staff_add_billing_details_with_the_vat_id_normalised(details_staff):
    account = personal_account()

    response = details_staff.post(
        url(BillingDetails, "add"), details_form(account, vat_id="de 123.456-789")
    )

    assert response.status_code == 302
    details = BillingDetails.objects.get(account=account)
    assert (details.legal_name, details.country, details.vat_id) == (
        "Buyer GmbH",
        "DE",
        "DE123456789",
    )


def test_a_vat_id_in_the_wrong_format_is_shown_on_the_field(details_staff):
    account = personal_account()

    response = details_staff.post(
        url(BillingDetails, "add"), details_form(account, vat_id="DE12")
    )

    assert response.status_code == 200
    assert "is not a VAT id in the format DE issues" in response.content.decode()
    assert not BillingDetails.objects.exists()


def test_staff_change_billing_details_through_the_service(details_staff):
    account = personal_account()
    with time_machine.travel(NOV_5, tick=False):
        response = details_staff.post(url(BillingDetails, "add"), details_form(account))
    details = BillingDetails.objects.get()
    assert details.updated_at == NOV_5

    with time_machine.travel(DEC_2, tick=False):
        response = details_staff.post(
            url(BillingDetails, "change", details.pk),
            details_form(account, legal_name="  Renamed GmbH ", country="FR"),
        )

    assert response.status_code == 302
    details.refresh_from_db()
    # The service strips the name and stamps the change.
    assert (details.legal_name, details.country, details.updated_at) == (
        "Renamed GmbH",
        "FR",
        DEC_2,
    )
    assert BillingDetails.objects.count() == 1
    assert (
        details_staff.get(url(BillingDetails, "delete", details.pk)).status_code == 403
    )
