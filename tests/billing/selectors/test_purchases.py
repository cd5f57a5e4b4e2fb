"""What confirmation pages quote: the same lines and rate the services charge."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billing.documents import LineIn
from billing.models import Pack, TaxRate
from billing.selectors import charge_preview, purchase_preview
from billing.services.documents import save_billing_details
from billing.units import format_percent
from tests.factories.billing import personal_account

pytestmark = pytest.mark.django_db
AT = datetime(2026, 4, 16, 12, tzinfo=UTC)


def test_rates_are_written_as_people_write_them():
    assert [format_percent(Decimal(r)) for r in ("19.00", "5.50", "20", "0.25")] == [
        "19",
        "5.5",
        "20",
        "0.25",
    ]


def test_a_rate_from_a_later_day_does_not_apply_yet():
    account = personal_account()
    save_billing_details(
        account=account, actor=account.user, legal_name="Q", country="FR"
    )
    TaxRate.objects.create(
        country="FR", rate_percent=Decimal("5.50"), valid_from=date(2020, 1, 1)
    )
    TaxRate.objects.create(
        country="FR", rate_percent=Decimal("20"), valid_from=date(2026, 4, 17)
    )

    charge = charge_preview(
        account=account, lines=[LineIn("Pack", unit_net_cents=1000)], at=AT
    )

    assert charge.tax_label == "VAT 5.5% (FR)" and charge.billing_country == "France"
    assert (charge.net_cents, charge.tax_cents, charge.gross_cents) == (1000, 55, 1055)


def test_without_details_the_sellers_country_rate_applies():
    TaxRate.objects.create(
        country="IE", rate_percent=Decimal("23"), valid_from=date(2020, 1, 1)
    )

    charge = charge_preview(account=personal_account(), lines=[], at=AT)

    assert (charge.billing_country, charge.taxed_country) == ("", "Ireland")
    # A price list's hint: tax is added, though nothing is quoted yet.
    assert charge.adds_tax and charge.rate_label == "VAT 23% (IE)"
    assert charge.tax_label == ""


@pytest.mark.time_machine(AT)
def test_the_pack_preview_quotes_the_pack_at_its_net_price():
    account = personal_account()
    TaxRate.objects.create(
        country="IE", rate_percent=Decimal("23"), valid_from=date(2020, 1, 1)
    )
    pack = Pack.objects.get(code="storage-50gb-once")

    charge = purchase_preview(account=account, pack=pack).charge

    assert (charge.net_cents, charge.tax_cents) == (pack.price_cents, 460)
    assert charge.quote.lines[0].line.description == pack.name
