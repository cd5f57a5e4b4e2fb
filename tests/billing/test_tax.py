"""Tax rules without a database: VAT id formats, reverse charge, line maths."""

from decimal import Decimal

import pytest

from billing.tax import (
    REVERSE_CHARGE_NOTE,
    is_reverse_charge,
    line_from_gross,
    line_from_net,
    normalise_vat_id,
    taxable_country,
)


@pytest.mark.parametrize(
    ("typed", "country", "stored"),
    [
        ("DE123456789", "DE", "DE123456789"),
        ("de 123 456 789", "DE", "DE123456789"),  # spaces and case as typed
        ("123456789", "DE", "DE123456789"),  # prefix added
        ("FR 40 303265045", "FR", "FR40303265045"),
        ("NL123456789B01", "NL", "NL123456789B01"),
        ("ATU12345678", "AT", "ATU12345678"),
        ("EL123456789", "GR", "EL123456789"),  # Greece prints "EL"
        ("123.456.789", "GR", "EL123456789"),
        ("IE1234567T", "IE", "IE1234567T"),
        ("IE1234567WA", "IE", "IE1234567WA"),
        ("GB123456789", "GB", "GB123456789"),
        ("CHE-123.456.789 MWST", "CH", "CHE123456789MWST"),
        ("", "DE", ""),
    ],
)
def test_vat_ids_are_stored_as_their_country_prints_them(typed, country, stored):
    assert normalise_vat_id(typed, country=country) == stored


@pytest.mark.parametrize(
    ("typed", "country"),
    [
        ("DE12345678", "DE"),  # one digit short
        ("DE1234567890", "DE"),  # one too many
        ("FR123", "FR"),
        ("ATU1234567", "AT"),
        ("NL123456789", "NL"),  # no B01 suffix
        ("DE123456789", "FR"),  # another country's id
        ("123456789", ""),  # no country to check against
        ("<script>", "US"),
    ],
)
def test_a_vat_id_in_another_format_is_refused_with_an_example(typed, country):
    with pytest.raises(ValueError) as refused:
        normalise_vat_id(typed, country=country)
    assert "VAT id" in str(refused.value) or "country" in str(refused.value)


def test_a_business_in_another_member_state_is_reverse_charged():
    assert is_reverse_charge(
        buyer_country="FR", vat_id="FR40303265045", seller_country="IE"
    )


@pytest.mark.parametrize(
    ("buyer_country", "vat_id", "seller_country"),
    [
        ("IE", "IE1234567T", "IE"),  # same country as the seller: domestic VAT
        ("FR", "", "IE"),  # a consumer (no VAT id) pays VAT
        ("US", "123456789", "IE"),  # outside the EU: not an intra-EU supply
        ("FR", "FR40303265045", "US"),  # a seller outside the EU
        ("", "", "IE"),
    ],
)
def test_everyone_else_pays_the_rate(buyer_country, vat_id, seller_country):
    assert not is_reverse_charge(
        buyer_country=buyer_country, vat_id=vat_id, seller_country=seller_country
    )
    assert REVERSE_CHARGE_NOTE.startswith("Reverse charge")


def test_a_buyer_without_a_country_pays_the_sellers_rate():
    assert taxable_country(buyer_country="", seller_country="IE") == "IE"
    assert taxable_country(buyer_country="DE", seller_country="IE") == "DE"


@pytest.mark.parametrize(
    ("net", "rate", "tax"),
    [
        (2000, "19", 380),
        (1250, "19", 238),  # 237.50 rounds half up
        (1050, "7", 74),  # 73.50 rounds half up
        (1049, "7", 73),  # 73.43 rounds down
        (999, "23", 230),  # 229.77
        (1, "19", 0),  # 0.19
        (3, "19", 1),  # 0.57
        (2000, "0", 0),
        (1000, "5.5", 55),
        (1010, "5.5", 56),  # 55.55
    ],
)
def test_tax_is_the_net_times_the_rate_rounded_half_up_once(net, rate, tax):
    line = line_from_net(net_cents=net, rate_percent=Decimal(rate))
    assert (line.net_cents, line.tax_cents, line.gross_cents) == (net, tax, net + tax)


@pytest.mark.parametrize(
    ("gross", "rate", "net", "tax"),
    [
        (2380, "19", 2000, 380),  # a whole line comes back exactly
        (1190, "19", 1000, 190),  # half of it
        (1000, "19", 840, 160),  # 840.34
        (1, "19", 1, 0),
        (1230, "23", 1000, 230),
        (500, "0", 500, 0),
    ],
)
def test_a_refunded_gross_splits_into_net_and_tax_that_add_up(gross, rate, net, tax):
    line = line_from_gross(gross_cents=gross, rate_percent=Decimal(rate))
    assert (line.net_cents, line.tax_cents) == (net, tax)
    assert line.gross_cents == gross
