"""Reads for issuing documents: the parties, the tax that applies, a quote.

A selector module (reads only); ``billing.services.documents`` issues
invoices and credit notes, ``billing.services.statements`` statements, and
``billing.document_views`` shows what was issued.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from django.conf import settings

from .models import (
    Account,
    BillingDetails,
    Pack,
    TaxRate,
)
from .tax import (
    LineAmounts,
    TaxTreatment,
    is_reverse_charge,
    line_from_net,
    taxable_country,
)


@dataclass(frozen=True, slots=True)
class Party:
    """A seller or buyer as printed on a document."""

    name: str
    address: str = ""
    country: str = ""
    vat_id: str = ""
    email: str = ""
    bank: str = ""


def seller_party() -> Party:
    """The seller, from settings (the address's lines are split by "|")."""
    lines = [line.strip() for line in settings.BILLING_SELLER_ADDRESS.split("|")]
    return Party(
        name=settings.BILLING_SELLER_NAME,
        address="\n".join(line for line in lines if line),
        country=settings.BILLING_SELLER_COUNTRY,
        vat_id=settings.BILLING_SELLER_VAT_ID,
        bank=settings.BILLING_SELLER_BANK,
    )


def find_billing_details(*, account: Account) -> BillingDetails | None:
    return BillingDetails.objects.filter(account=account).first()


def buyer_party(*, account: Account, with_email: bool = True) -> Party:
    """The account's billing details, or its name alone; and the owner's
    e-mail, where documents go (a price quote does without it)."""
    details = find_billing_details(account=account)
    # Here, not at the top: billing.selectors reads this module's quotes.
    from .selectors.access import account_email

    email = account_email(account=account) if with_email else ""
    if details is None:
        return Party(name=account.name, email=email)
    return Party(
        name=details.legal_name,
        address=details.address,
        country=str(details.country),
        vat_id=details.vat_id,
        email=email,
    )


def tax_rate_at(*, country: str, day: date) -> Decimal:
    """The country's rate with the latest start on or before ``day``; 0 without."""
    rate = (
        TaxRate.objects.filter(country=country, valid_from__lte=day)
        .order_by("-valid_from")
        .values_list("rate_percent", flat=True)
        .first()
    )
    return rate if rate is not None else Decimal(0)


def tax_treatment(*, buyer: Party, at: datetime) -> TaxTreatment:
    """What ``buyer`` pays on a document issued at ``at``."""
    seller_country = settings.BILLING_SELLER_COUNTRY
    country = taxable_country(
        buyer_country=buyer.country, seller_country=seller_country
    )
    if is_reverse_charge(
        buyer_country=buyer.country, vat_id=buyer.vat_id, seller_country=seller_country
    ):
        return TaxTreatment(
            country=country, rate_percent=Decimal(0), reverse_charge=True
        )
    return TaxTreatment(
        country=country,
        rate_percent=tax_rate_at(country=country, day=at.astimezone(UTC).date()),
    )


@dataclass(frozen=True, slots=True)
class LineIn:
    description: str
    unit_net_cents: int
    quantity: int = 1


@dataclass(frozen=True, slots=True)
class QuotedLine:
    line: LineIn
    amounts: LineAmounts


@dataclass(frozen=True, slots=True)
class ChargeQuote:
    """What a buyer pays for some lines at one instant, tax included."""

    buyer: Party
    treatment: TaxTreatment
    lines: tuple[QuotedLine, ...]

    @property
    def net_cents(self) -> int:
        return sum(q.amounts.net_cents for q in self.lines)

    @property
    def tax_cents(self) -> int:
        return sum(q.amounts.tax_cents for q in self.lines)

    @property
    def gross_cents(self) -> int:
        return self.net_cents + self.tax_cents


def quote_charge(
    *, account: Account, lines: Sequence[LineIn], at: datetime
) -> ChargeQuote:
    """Price ``lines`` for the account at ``at``: the rate of that day applies.

    Each line's tax is rounded half-up once; the totals are sums of lines.
    """
    buyer = buyer_party(account=account, with_email=False)
    treatment = tax_treatment(buyer=buyer, at=at)
    quoted = tuple(
        QuotedLine(
            line=line,
            amounts=line_from_net(
                net_cents=line.unit_net_cents * line.quantity,
                rate_percent=treatment.rate_percent,
            ),
        )
        for line in lines
    )
    return ChargeQuote(buyer=buyer, treatment=treatment, lines=quoted)


def pack_line(*, pack: Pack, renewal: bool) -> LineIn:
    """The invoice line of a pack bought or renewed: one at its net price.

    The confirmation page quotes it and the purchase charges it.
    """
    return LineIn(
        description=("Renewal: " if renewal else "") + pack.name,
        unit_net_cents=pack.price_cents,
    )
