"""Tax rules: which rate a buyer pays, VAT id formats, per-line arithmetic.

Pure functions, no database (the rates themselves are staff data, read by
``billing.documents.tax_rate_at``). Prices are stored net; a line's tax is
its net times the rate, rounded half-up to a cent once per line, and the
gross is net + tax. A document's totals are the sums of its rounded lines.
"""

import re
from dataclasses import dataclass
from decimal import Decimal

from .units import to_cents

# Member states by ISO 3166-1 code. Greece writes its VAT ids with "EL".
EU_COUNTRIES = frozenset(
    {
        *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR"),
        *("HR", "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO"),
        *("SE", "SI", "SK"),
    }
)
VAT_PREFIX = {"GR": "EL"}

# The part after the country prefix, as each tax administration prints it
# (the EU's VIES format table); a format check, not a registry lookup.
_VAT_BODY = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"\d{9}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "ES": r"[A-Z0-9]\d{7}[A-Z0-9]",
    "FI": r"\d{8}",
    "FR": r"[A-HJ-NP-Z0-9]{2}\d{9}",
    "GR": r"\d{9}",
    "HR": r"\d{11}",
    "HU": r"\d{8}",
    "IE": r"\d{7}[A-W][A-IW]?|\d[A-Z+*]\d{5}[A-W]",
    "IT": r"\d{11}",
    "LT": r"\d{9}|\d{12}",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"\d{2,10}",
    "SE": r"\d{12}",
    "SI": r"\d{8}",
    "SK": r"\d{10}",
    # Outside the EU, the formats buyers most often give.
    "GB": r"\d{9}|\d{12}|GD\d{3}|HA\d{3}",
    "CH": r"E\d{9}(?:MWST|TVA|IVA)?",
    "NO": r"\d{9}(?:MVA)?",
}
# Other countries: letters and digits, as printed by their tax office.
_VAT_OTHER = r"[A-Z0-9]{2,20}"

REVERSE_CHARGE_NOTE = (
    "Reverse charge: VAT to be accounted for by the recipient "
    "(Article 196, Council Directive 2006/112/EC)."
)


def normalise_vat_id(vat_id: str, *, country: str) -> str:
    """Upper-case without spaces, dots or dashes, with the country prefix.

    A buyer may type "123 456 789" for Germany: it becomes "DE123456789".
    Raises ValueError, with a sentence for the form, when the format is not
    one ``country`` issues.
    """
    country = country.upper()
    text = re.sub(r"[\s.\-]", "", vat_id or "").upper()
    if not text:
        return ""
    if not country:
        raise ValueError("Choose the country that issued this VAT id.")
    prefix = VAT_PREFIX.get(country, country)
    issuer = _issuing_country(text)
    if issuer and issuer != country:
        raise ValueError(
            f"{vat_id.strip()} is a VAT id of {issuer}: choose that country,"
            " or give the id the country you chose issued."
        )
    body = text[len(prefix) :] if text.startswith(prefix) else text
    pattern = _VAT_BODY.get(country, _VAT_OTHER)
    if not re.fullmatch(pattern, body):
        raise ValueError(
            f"{vat_id.strip()} is not a VAT id in the format {country} issues"
            f" (for example {example_vat_id(country)})."
        )
    return prefix + body


def _issuing_country(text: str) -> str:
    """The country whose prefix and format ``text`` has, if only one fits."""
    fits = [
        country
        for country, body in _VAT_BODY.items()
        if text.startswith(VAT_PREFIX.get(country, country))
        and re.fullmatch(body, text[len(VAT_PREFIX.get(country, country)) :])
    ]
    return fits[0] if len(fits) == 1 else ""


def example_vat_id(country: str) -> str:
    examples = {
        "DE": "DE123456789",
        "FR": "FRXX123456789",
        "IE": "IE1234567T",
        "NL": "NL123456789B01",
        "AT": "ATU12345678",
        "GR": "EL123456789",
        "GB": "GB123456789",
        "CH": "CHE123456789MWST",
    }
    return examples.get(country, f"{VAT_PREFIX.get(country, country)}12345678")


@dataclass(frozen=True, slots=True)
class TaxTreatment:
    """The rate a buyer pays, and why (shown on the invoice)."""

    country: str  # whose rate applies
    rate_percent: Decimal
    reverse_charge: bool = False

    @property
    def note(self) -> str:
        return REVERSE_CHARGE_NOTE if self.reverse_charge else ""


def is_reverse_charge(*, buyer_country: str, vat_id: str, seller_country: str) -> bool:
    """A business buyer (it gave a VAT id) in another EU member state than the
    seller's accounts for the VAT itself: the invoice carries 0%."""
    return bool(
        vat_id
        and seller_country in EU_COUNTRIES
        and buyer_country in EU_COUNTRIES
        and buyer_country != seller_country
    )


def taxable_country(*, buyer_country: str, seller_country: str) -> str:
    """Without a country of its own, a buyer pays the seller's country rate."""
    return buyer_country or seller_country


@dataclass(frozen=True, slots=True)
class LineAmounts:
    net_cents: int
    tax_cents: int

    @property
    def gross_cents(self) -> int:
        return self.net_cents + self.tax_cents


def line_from_net(*, net_cents: int, rate_percent: Decimal) -> LineAmounts:
    """Tax on a net line, rounded half-up once."""
    tax = to_cents(Decimal(net_cents) * rate_percent / 100)
    return LineAmounts(net_cents=net_cents, tax_cents=tax)


def line_from_gross(*, gross_cents: int, rate_percent: Decimal) -> LineAmounts:
    """Split a gross amount (a refund) into net and tax at the line's rate.

    The net is rounded half-up once and the tax is the rest, so net + tax is
    exactly the amount paid back.
    """
    net = to_cents(Decimal(gross_cents) * 100 / (100 + rate_percent))
    return LineAmounts(net_cents=net, tax_cents=gross_cents - net)
