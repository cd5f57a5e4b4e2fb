"""The accountant's export: invoices and credit notes issued in a date range.

A selector module (reads only). One row per document, in issue order;
a credit note's amounts are negative, so a column's sum is the net sales.
Amounts are in currency units with two decimals (23.80), as numbers; the
admin view writes them through ``dashboard.csv_export``.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from .models import ChargeRecord, CreditNote, CreditNoteLine, Invoice, InvoiceLine

EXPORT_HEADER = (
    "Number",
    "Type",
    "Issue date (UTC)",
    "Account",
    "Buyer name",
    "Buyer country",
    "Buyer VAT id",
    "Reverse charge",
    "Net (currency units)",
    "Tax rate (%)",
    "Tax (currency units)",
    "Gross (currency units)",
    "Currency",
    "Status",
    "Credits invoice",
)
_CENT = Decimal("0.01")


def to_units(cents: int) -> Decimal:
    """2380 -> Decimal("23.80"): what a spreadsheet sums without rounding."""
    return (Decimal(cents) / 100).quantize(_CENT)


def invoice_status(*, charge_status: str, gross_cents: int, credited_cents: int) -> str:
    """Where an invoice stands now: due, paid, cancelled or (partly) refunded."""
    if charge_status == ChargeRecord.Status.VOID:
        return "cancelled"
    if credited_cents >= gross_cents > 0:
        return "refunded"
    if credited_cents:
        return "partly refunded"
    if charge_status == ChargeRecord.Status.PAID:
        return "paid"
    if charge_status == ChargeRecord.Status.FAILED:
        return "declined"
    return "due"


def credit_note_status(*, credit_note: CreditNote) -> str:
    """A refund paid out, or a charge cancelled before it was paid."""
    if credit_note.charge_id == credit_note.invoice.charge_id:
        return "cancellation"
    return "refund"


def with_credited_cents(invoices: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """Annotate ``credited_cents``: the gross of the invoice's credit notes."""
    credited = (
        CreditNote.objects.filter(invoice=OuterRef("pk"))
        .order_by()
        .values("invoice")
        .annotate(total=Sum("gross_cents"))
        .values("total")
    )
    return invoices.annotate(
        credited_cents=Coalesce(Subquery(credited), 0, output_field=IntegerField())
    )


@dataclass(frozen=True, slots=True)
class ExportRow:
    number: str
    type: str  # "invoice" or "credit note"
    issued_on: date
    account: str
    buyer_name: str
    buyer_country: str
    buyer_vat_id: str
    reverse_charge: bool
    net: Decimal
    tax_rate: Decimal | str  # several rates: "19.00; 16.00"
    tax: Decimal
    gross: Decimal
    currency: str
    status: str
    credits_invoice: str
    sort_key: tuple = ()

    def cells(self) -> list[object]:
        return [
            self.number,
            self.type,
            self.issued_on.isoformat(),
            self.account,
            self.buyer_name,
            self.buyer_country,
            self.buyer_vat_id,
            "yes" if self.reverse_charge else "no",
            self.net,
            self.tax_rate,
            self.tax,
            self.gross,
            self.currency,
            self.status,
            self.credits_invoice,
        ]


def _rates(lines: Iterable[InvoiceLine | CreditNoteLine]) -> Decimal | str:
    """One rate as a number; several (a mixed document) as text."""
    rates = sorted({line.tax_rate_percent for line in lines}, reverse=True)
    if len(rates) == 1:
        return rates[0]
    return "; ".join(f"{rate:.2f}" for rate in rates)


def invoice_export_rows(*, start: date, end: date) -> list[ExportRow]:
    """Invoices and credit notes issued from ``start`` to ``end`` (UTC days,
    both included), oldest first; four queries whatever their number."""
    since = datetime.combine(start, time.min, tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
    invoices = with_credited_cents(
        Invoice.objects.filter(issued_at__gte=since, issued_at__lt=until)
        .select_related("account", "charge")
        .prefetch_related("lines")
    )
    notes = (
        CreditNote.objects.filter(issued_at__gte=since, issued_at__lt=until)
        .select_related("account", "invoice")
        .prefetch_related("lines")
    )
    rows = [
        ExportRow(
            number=invoice.number,
            type="invoice",
            issued_on=invoice.issued_at.astimezone(UTC).date(),
            account=invoice.account.name,
            buyer_name=invoice.buyer_name,
            buyer_country=invoice.buyer_country,
            buyer_vat_id=invoice.buyer_vat_id,
            reverse_charge=invoice.reverse_charge,
            net=to_units(invoice.net_cents),
            tax_rate=_rates(invoice.lines.all()),
            tax=to_units(invoice.tax_cents),
            gross=to_units(invoice.gross_cents),
            currency=invoice.currency,
            status=invoice_status(
                charge_status=invoice.charge.status,
                gross_cents=invoice.gross_cents,
                # Annotated by with_credited_cents; the stubs cannot see it.
                credited_cents=invoice.credited_cents,  # type: ignore[attr-defined]
            ),
            credits_invoice="",
            sort_key=(invoice.issued_at, 0, invoice.pk),
        )
        for invoice in invoices
    ]
    rows += [
        ExportRow(
            number=note.number,
            type="credit note",
            issued_on=note.issued_at.astimezone(UTC).date(),
            account=note.account.name,
            buyer_name=note.buyer_name,
            buyer_country=note.buyer_country,
            buyer_vat_id=note.buyer_vat_id,
            reverse_charge=note.reverse_charge,
            net=to_units(-note.net_cents),
            tax_rate=_rates(note.lines.all()),
            tax=to_units(-note.tax_cents),
            gross=to_units(-note.gross_cents),
            currency=note.currency,
            status=credit_note_status(credit_note=note),
            credits_invoice=note.invoice.number,
            sort_key=(note.issued_at, 1, note.pk),
        )
        for note in notes
    ]
    return sorted(rows, key=lambda row: row.sort_key)


def export_filename(*, start: date, end: date) -> str:
    return f"invoices-{start:%Y-%m-%d}-to-{end:%Y-%m-%d}.csv"
