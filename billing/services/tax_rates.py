"""Staff keep the tax rates; issued invoices keep theirs.

A rate applies from its ``valid_from`` day to the next start of the same
country. Adding, changing or deleting a rate changes the rate of the days
it covers, so it is refused when an invoice taxed in that country was
issued on one of them: the invoice printed the rate of its day, and the
table must keep saying so. In practice rates become append-only once
invoiced: a new rate is a new row with a later start. Every save and
deletion is on the audit trail (``audit.save_on_record``).
"""

from datetime import UTC, date, datetime, time
from decimal import Decimal

from django.conf import settings
from django.db.models import Q

from accounts.models import User

from ..errors import InvalidRequest
from ..models import AuditEntry, Invoice, TaxRate
from ..permissions import check_staff_power
from .audit import delete_on_record, save_on_record

TAX_RATE_FIELDS = ("country", "rate_percent", "valid_from", "name")
# The country is recorded by its code (the field holds a Country object) and
# the rate with its two decimals, however it was typed.
_RECORDED_FIELDS = ("valid_from", "name")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def invoice_taxed_from(
    *, country: str, valid_from: date, exclude_pk: int | None = None
) -> Invoice | None:
    """The first invoice taxed in ``country`` on a day a rate starting on
    ``valid_from`` would cover (until the country's next start), if any.

    Reverse-charged invoices carry no rate; a buyer without a country is
    taxed in the seller's. ``exclude_pk`` leaves the rate being edited out
    of the next starts.
    """
    country = str(country)
    later = TaxRate.objects.filter(country=country, valid_from__gt=valid_from)
    if exclude_pk is not None:
        later = later.exclude(pk=exclude_pk)
    next_start = (
        later.order_by("valid_from").values_list("valid_from", flat=True).first()
    )
    taxed_here = Q(buyer_country=country)
    if country == settings.BILLING_SELLER_COUNTRY:
        taxed_here |= Q(buyer_country="")
    invoices = Invoice.objects.filter(
        taxed_here, reverse_charge=False, issued_at__gte=_midnight(valid_from)
    )
    if next_start is not None:
        invoices = invoices.filter(issued_at__lt=_midnight(next_start))
    return invoices.order_by("issued_at", "pk").first()


def tax_rate_refusal(
    *, country: str, valid_from: date, exclude_pk: int | None = None
) -> str:
    """Why a rate may not start (or stop) on ``valid_from`` in ``country``;
    "" when it may."""
    invoice = invoice_taxed_from(
        country=country, valid_from=valid_from, exclude_pk=exclude_pk
    )
    if invoice is None:
        return ""
    issued = invoice.issued_at.astimezone(UTC).date()
    return (
        f"Invoice {invoice.number} was issued on {issued:%Y-%m-%d} at the {country}"
        f" rate of that day, a day this rate (from {valid_from:%Y-%m-%d}) covers."
        " Issued invoices keep their rate, so the rate of that day cannot change:"
        " add a new rate starting after the last invoice instead."
    )


def tax_rate_locked(*, tax_rate: TaxRate) -> bool:
    """True once an invoice was issued at this rate: it is history then."""
    return tax_rate.pk is not None and bool(
        tax_rate_refusal(
            country=tax_rate.country,
            valid_from=tax_rate.valid_from,
            exclude_pk=tax_rate.pk,
        )
    )


def _country_and_rate(tax_rate: TaxRate) -> dict[str, str]:
    rate = Decimal(tax_rate.rate_percent).quantize(Decimal("0.01"))
    return {"country": str(tax_rate.country), "rate_percent": str(rate)}


def _check(*, country: str, valid_from: date, exclude_pk: int | None) -> None:
    refusal = tax_rate_refusal(
        country=country, valid_from=valid_from, exclude_pk=exclude_pk
    )
    if refusal:
        raise InvalidRequest(refusal)


def save_tax_rate(*, tax_rate: TaxRate, actor: User, reason: str = "") -> TaxRate:
    """Add or change a rate, unless that changes an issued invoice's rate.

    Checks the rate's days before the edit (under its row lock) and after.
    Needs ``billing.add_taxrate`` or ``billing.change_taxrate``.
    """

    def unchanged_or_free(current: TaxRate) -> None:
        if all(getattr(current, f) == getattr(tax_rate, f) for f in TAX_RATE_FIELDS):
            return
        _check(country=current.country, valid_from=current.valid_from, exclude_pk=None)
        _check(
            country=tax_rate.country,
            valid_from=tax_rate.valid_from,
            exclude_pk=tax_rate.pk,
        )

    if tax_rate.pk is None:
        # The permission before the invoices: a refusal tells nothing then.
        check_staff_power(actor=actor, permission="billing.add_taxrate")
        _check(
            country=tax_rate.country, valid_from=tax_rate.valid_from, exclude_pk=None
        )
    save_on_record(
        obj=tax_rate,
        fields=_RECORDED_FIELDS,
        actor=actor,
        actions=(
            AuditEntry.Action.TAX_RATE_CREATED,
            AuditEntry.Action.TAX_RATE_CHANGED,
        ),
        related_of=_country_and_rate,
        guard=unchanged_or_free,
        reason=reason,
    )
    return tax_rate


def delete_tax_rate(*, tax_rate: TaxRate, actor: User, reason: str = "") -> None:
    """Delete a rate no invoice was issued at, recording what it was.

    Needs ``billing.delete_taxrate``.
    """

    def unused(current: TaxRate) -> None:
        _check(country=current.country, valid_from=current.valid_from, exclude_pk=None)

    delete_on_record(
        obj=tax_rate,
        fields=_RECORDED_FIELDS,
        actor=actor,
        action=AuditEntry.Action.TAX_RATE_DELETED,
        related_of=_country_and_rate,
        guard=unused,
        reason=reason,
    )
