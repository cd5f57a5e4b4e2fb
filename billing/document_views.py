"""Views of issued documents: what invoice, credit note and statement pages,
their PDFs and the Documents list show.

A selector module (reads only). Everything shown comes from the document's
own columns (the parties as they were at issue), never from today's
billing details or settings.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from django.utils import dateformat
from django_countries import countries

from .documents import Party
from .errors import NotFound
from .models import (
    Account,
    ChargeRecord,
    CreditNote,
    CreditNoteLine,
    DocumentSequence,
    Invoice,
    InvoiceLine,
    Statement,
)
from .tax import REVERSE_CHARGE_NOTE
from .units import Period, format_cents, format_percent, parse_period

DAY_FORMAT = "j M Y"


def _day(moment: datetime | date) -> str:
    """A UTC day as "3 Dec 2026"."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return dateformat.format(moment, DAY_FORMAT)


def _rate_text(rate_percent: Decimal) -> str:
    """19.00 -> "19%", 7.70 -> "7.7%"."""
    return f"{format_percent(rate_percent)}%"


def _party_lines(party: Party) -> tuple[str, ...]:
    """The address lines then the country's name, unless the address ends with it."""
    lines = [line.strip() for line in party.address.splitlines() if line.strip()]
    country = str(countries.name(party.country)) if party.country else ""
    if country and (not lines or lines[-1].casefold() != country.casefold()):
        lines.append(country)
    return tuple(lines)


@dataclass(frozen=True, slots=True)
class DocumentLineView:
    description: str
    quantity: int
    unit_net_cents: int
    net_cents: int
    rate: str  # "19%", "0%"
    tax_cents: int
    gross_cents: int
    unit_net_display: str
    net_display: str
    tax_display: str
    gross_display: str


@dataclass(frozen=True, slots=True)
class DocumentReference:
    """Another document this one points at (a view turns it into a link)."""

    kind: str  # "invoice" or "credit_note"
    number: str
    issued_on: date
    gross_display: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DocumentView:
    """An invoice or credit note as printed: parties, lines, totals, status."""

    kind: str  # "invoice" or "credit_note"
    title: str
    number: str
    account_id: int
    charge_id: int
    issued_on: date
    period: str  # "1 Dec 2026 – 31 Dec 2026", or one day
    currency: str
    seller: Party
    buyer: Party
    seller_lines: tuple[str, ...]  # address lines and country name
    buyer_lines: tuple[str, ...]
    lines: tuple[DocumentLineView, ...]
    net_cents: int
    tax_cents: int
    gross_cents: int
    net_display: str
    tax_display: str
    gross_display: str
    reverse_charge: bool
    note: str  # the reverse-charge legal note, or ""
    status_line: str
    references: tuple[DocumentReference, ...]
    pdf_filename: str
    reason: str = ""  # a credit note's

    @property
    def issued_display(self) -> str:
        return _day(self.issued_on)


def _parties_of(document: Invoice | CreditNote | Statement) -> tuple[Party, Party]:
    seller = Party(
        name=document.seller_name,
        address=document.seller_address,
        country=document.seller_country,
        vat_id=document.seller_vat_id,
        bank=document.seller_bank,
    )
    buyer = Party(
        name=document.buyer_name,
        address=document.buyer_address,
        country=document.buyer_country,
        vat_id=document.buyer_vat_id,
        email=getattr(document, "buyer_email", ""),
    )
    return seller, buyer


def _line_views(
    lines: Iterable[InvoiceLine | CreditNoteLine], currency: str
) -> tuple[DocumentLineView, ...]:
    return tuple(
        DocumentLineView(
            description=line.description,
            quantity=line.quantity,
            unit_net_cents=line.unit_net_cents,
            net_cents=line.net_cents,
            rate=_rate_text(line.tax_rate_percent),
            tax_cents=line.tax_cents,
            gross_cents=line.gross_cents,
            unit_net_display=format_cents(line.unit_net_cents, currency),
            net_display=format_cents(line.net_cents, currency),
            tax_display=format_cents(line.tax_cents, currency),
            gross_display=format_cents(line.gross_cents, currency),
        )
        for line in lines
    )


def _period_text(start: date, end: date) -> str:
    if start == end:
        return _day(start)
    return f"{_day(start)} – {_day(end)}"


def _document_view(
    document: Invoice | CreditNote,
    *,
    kind: str,
    title: str,
    period: str,
    status_line: str,
    references: tuple[DocumentReference, ...],
    note: str,
    reason: str = "",
) -> DocumentView:
    seller, buyer = _parties_of(document)
    currency = document.currency
    return DocumentView(
        kind=kind,
        title=title,
        number=document.number,
        account_id=document.account_id,
        charge_id=document.charge_id,
        issued_on=document.issued_at.astimezone(UTC).date(),
        period=period,
        currency=currency,
        seller=seller,
        buyer=buyer,
        seller_lines=_party_lines(seller),
        buyer_lines=_party_lines(buyer),
        lines=_line_views(document.lines.all(), currency),
        net_cents=document.net_cents,
        tax_cents=document.tax_cents,
        gross_cents=document.gross_cents,
        net_display=format_cents(document.net_cents, currency),
        tax_display=format_cents(document.tax_cents, currency),
        gross_display=format_cents(document.gross_cents, currency),
        reverse_charge=document.reverse_charge,
        note=note,
        status_line=status_line,
        references=references,
        pdf_filename=f"{document.number}.pdf",
        reason=reason,
    )


def _credit_reference(note: CreditNote) -> DocumentReference:
    return DocumentReference(
        kind="credit_note",
        number=note.number,
        issued_on=note.issued_at.astimezone(UTC).date(),
        gross_display=format_cents(note.gross_cents, note.currency),
        reason=note.reason,
    )


def invoice_status_line(*, invoice: Invoice) -> str:
    """Where the invoice stands: paid, due, cancelled or refunded (and by what).

    Reads the charge and the credit notes; prefetch ``credit_notes`` and
    select ``charge`` when listing many.
    """
    charge = invoice.charge
    notes = sorted(invoice.credit_notes.all(), key=lambda n: (n.issued_at, n.pk))
    numbers = ", ".join(note.number for note in notes)
    credited = sum(note.gross_cents for note in notes)
    if charge.status == ChargeRecord.Status.VOID:
        return f"Cancelled: credited in full by {numbers}" if notes else "Cancelled"
    if notes:
        how = (
            "in full"
            if credited >= invoice.gross_cents
            else f"{format_cents(credited, invoice.currency)} of"
            f" {format_cents(invoice.gross_cents, invoice.currency)}"
        )
        return f"Refunded {how} on {_day(notes[-1].issued_at)} by {numbers}"
    if charge.status == ChargeRecord.Status.PAID:
        return f"Paid on {_day(charge.paid_at)}" if charge.paid_at else "Paid"
    if charge.status == ChargeRecord.Status.FAILED:
        return "Payment declined: nothing was collected"
    return "Payment due"


def invoice_document(*, invoice: Invoice) -> DocumentView:
    """An invoice as its page, PDF and e-mail show it.

    Use ``get_invoice_for_account`` (lines, charge and credit notes at hand)
    or prefetch them: each line is not fetched on its own.
    """
    return _document_view(
        invoice,
        kind="invoice",
        title="Invoice",
        period=_period_text(invoice.period_start, invoice.period_end),
        status_line=invoice_status_line(invoice=invoice),
        references=tuple(
            _credit_reference(note)
            for note in sorted(
                invoice.credit_notes.all(), key=lambda n: (n.issued_at, n.pk)
            )
        ),
        note=invoice.note or (REVERSE_CHARGE_NOTE if invoice.reverse_charge else ""),
    )


def credit_note_status_line(*, credit_note: CreditNote) -> str:
    reason = f" ({credit_note.reason})" if credit_note.reason else ""
    return f"Credits invoice {credit_note.invoice.number}{reason}"


def credit_note_document(*, credit_note: CreditNote) -> DocumentView:
    """A credit note as printed: the amounts credited, against its invoice."""
    invoice = credit_note.invoice
    return _document_view(
        credit_note,
        kind="credit_note",
        title="Credit note",
        period=_period_text(invoice.period_start, invoice.period_end),
        status_line=credit_note_status_line(credit_note=credit_note),
        references=(
            DocumentReference(
                kind="invoice",
                number=invoice.number,
                issued_on=invoice.issued_at.astimezone(UTC).date(),
                gross_display=format_cents(invoice.gross_cents, invoice.currency),
            ),
        ),
        note=REVERSE_CHARGE_NOTE if credit_note.reverse_charge else "",
        reason=credit_note.reason,
    )


def get_invoice_for_account(*, account: Account, number: str) -> Invoice:
    """One of the account's invoices by number; another account's is not found."""
    try:
        return (
            Invoice.objects.select_related("charge")
            .prefetch_related("lines", "credit_notes")
            .get(account=account, number=number)
        )
    except Invoice.DoesNotExist:
        raise NotFound("No such invoice on this account.") from None


def get_credit_note_for_account(*, account: Account, number: str) -> CreditNote:
    """One of the account's credit notes by number; another account's is not found."""
    try:
        return (
            CreditNote.objects.select_related("invoice")
            .prefetch_related("lines")
            .get(account=account, number=number)
        )
    except CreditNote.DoesNotExist:
        raise NotFound("No such credit note on this account.") from None


@dataclass(frozen=True, slots=True)
class StatementLineView:
    on: date
    kind: str  # StatementLine.Kind value
    kind_display: str
    description: str
    reference: str
    # "invoice" or "credit_note" when the reference is such a number, for a link
    reference_kind: str
    amount_cents: int
    balance_cents: int
    amount_display: str
    balance_display: str


@dataclass(frozen=True, slots=True)
class StatementView:
    """A month's statement of account, as printed."""

    title: str
    month: str  # "2026-11", the statement's key in URLs
    month_name: str  # "November 2026"
    account_id: int
    issued_on: date
    period_start: date
    period_end: date  # the month's last day
    period: str  # "1 Nov 2026 – 30 Nov 2026"
    currency: str
    seller: Party
    buyer: Party
    seller_lines: tuple[str, ...]
    buyer_lines: tuple[str, ...]
    lines: tuple[StatementLineView, ...]
    opening_due_cents: int
    charges_cents: int
    payments_cents: int
    refunds_cents: int
    credits_cents: int
    closing_due_cents: int
    opening_due_display: str
    charges_display: str
    payments_display: str
    refunds_display: str
    credits_display: str
    closing_due_display: str
    pdf_filename: str


def _reference_kind(reference: str) -> str:
    if reference.startswith(f"{DocumentSequence.Series.INVOICE}-"):
        return "invoice"
    if reference.startswith(f"{DocumentSequence.Series.CREDIT_NOTE}-"):
        return "credit_note"
    return ""


def statement_document(*, statement: Statement) -> StatementView:
    """A statement as its page and PDF show it; prefetch ``lines`` for a list."""
    currency = statement.currency
    month = Period(statement.period_start)
    last_day = month.last_day
    seller, buyer = _parties_of(statement)
    return StatementView(
        title="Statement of account",
        month=str(month),
        month_name=dateformat.format(month.start, "F Y"),
        account_id=statement.account_id,
        issued_on=statement.issued_at.astimezone(UTC).date(),
        period_start=month.start,
        period_end=last_day,
        period=_period_text(month.start, last_day),
        currency=currency,
        seller=seller,
        buyer=buyer,
        seller_lines=_party_lines(seller),
        buyer_lines=_party_lines(buyer),
        lines=tuple(
            StatementLineView(
                on=line.at.astimezone(UTC).date(),
                kind=line.kind,
                kind_display=line.get_kind_display(),
                description=line.description,
                reference=line.reference,
                reference_kind=_reference_kind(line.reference),
                amount_cents=line.amount_cents,
                balance_cents=line.balance_cents,
                amount_display=format_cents(line.amount_cents, currency),
                balance_display=format_cents(line.balance_cents, currency),
            )
            for line in statement.lines.all()
        ),
        opening_due_cents=statement.opening_due_cents,
        charges_cents=statement.charges_cents,
        payments_cents=statement.payments_cents,
        refunds_cents=statement.refunds_cents,
        credits_cents=statement.credits_cents,
        closing_due_cents=statement.closing_due_cents,
        opening_due_display=format_cents(statement.opening_due_cents, currency),
        charges_display=format_cents(statement.charges_cents, currency),
        payments_display=format_cents(statement.payments_cents, currency),
        refunds_display=format_cents(statement.refunds_cents, currency),
        credits_display=format_cents(statement.credits_cents, currency),
        closing_due_display=format_cents(statement.closing_due_cents, currency),
        pdf_filename=f"statement-{month}.pdf",
    )


def get_statement_for_account(*, account: Account, month: str) -> Statement:
    """The account's statement of ``month`` ("2026-11"); not found otherwise."""
    try:
        period = parse_period(month)
    except ValueError:
        raise NotFound("No such statement on this account.") from None
    try:
        return Statement.objects.prefetch_related("lines").get(
            account=account, period_start=period.start
        )
    except Statement.DoesNotExist:
        raise NotFound("No such statement on this account.") from None


@dataclass(frozen=True, slots=True)
class DocumentRow:
    """One line of the account's document list."""

    kind: str  # "invoice", "credit_note" or "statement"
    key: str  # the number, or the statement's month ("2026-11")
    title: str  # "INV-2026-000123"; a statement's month, "November 2026"
    issued_on: date
    description: str
    amount_display: str  # a statement's: the closing amount due
    status: str
    opening_display: str = ""  # a statement's opening amount due


@dataclass(frozen=True, slots=True)
class AccountDocuments:
    year: int | None  # the year shown; None: every year
    years: tuple[int, ...]  # years with any document, newest first
    invoices: tuple[DocumentRow, ...]
    credit_notes: tuple[DocumentRow, ...]
    statements: tuple[DocumentRow, ...]

    @property
    def empty(self) -> bool:
        return not (self.invoices or self.credit_notes or self.statements)


def _lines_summary(lines: Iterable[InvoiceLine | CreditNoteLine]) -> str:
    lines = list(lines)
    if not lines:
        return ""
    more = f" and {len(lines) - 1} more" if len(lines) > 1 else ""
    return f"{lines[0].description}{more}"


def _issued_row(document: Invoice | CreditNote, kind: str, status: str) -> DocumentRow:
    return DocumentRow(
        kind=kind,
        key=document.number,
        title=document.number,
        issued_on=document.issued_at.astimezone(UTC).date(),
        description=_lines_summary(document.lines.all()),
        amount_display=format_cents(document.gross_cents, document.currency),
        status=status,
    )


def _statement_row(statement: Statement) -> DocumentRow:
    currency = statement.currency
    opening = format_cents(statement.opening_due_cents, currency)
    closing = format_cents(statement.closing_due_cents, currency)
    return DocumentRow(
        kind="statement",
        key=f"{statement.period_start:%Y-%m}",
        title=dateformat.format(statement.period_start, "F Y"),
        issued_on=statement.issued_at.astimezone(UTC).date(),
        description="",
        amount_display=closing,
        status="",
        opening_display=opening,
    )


def list_account_documents(*, account: Account, year: int | None) -> AccountDocuments:
    """The account's invoices, credit notes and statements, newest first.

    ``year`` keeps those issued in that UTC year (statements: of a month
    in it). Nine queries whatever the number of documents.
    """
    invoices = Invoice.objects.filter(account=account)
    notes = CreditNote.objects.filter(account=account)
    statements = Statement.objects.filter(account=account)
    years = sorted(
        {
            *(d.year for d in invoices.datetimes("issued_at", "year", tzinfo=UTC)),
            *(d.year for d in notes.datetimes("issued_at", "year", tzinfo=UTC)),
            *(d.year for d in statements.dates("period_start", "year")),
        },
        reverse=True,
    )
    invoices = (
        invoices.select_related("charge")
        .prefetch_related("lines", "credit_notes")
        .order_by("-issued_at", "-pk")
    )
    notes = (
        notes.select_related("invoice")
        .prefetch_related("lines")
        .order_by("-issued_at", "-pk")
    )
    statements = statements.order_by("-period_start")
    if year is not None:
        start = datetime(year, 1, 1, tzinfo=UTC)
        end = datetime(year + 1, 1, 1, tzinfo=UTC)
        invoices = invoices.filter(issued_at__gte=start, issued_at__lt=end)
        notes = notes.filter(issued_at__gte=start, issued_at__lt=end)
        statements = statements.filter(period_start__year=year)
    return AccountDocuments(
        year=year,
        years=tuple(years),
        invoices=tuple(
            _issued_row(invoice, "invoice", invoice_status_line(invoice=invoice))
            for invoice in invoices
        ),
        credit_notes=tuple(
            _issued_row(note, "credit_note", credit_note_status_line(credit_note=note))
            for note in notes
        ),
        statements=tuple(_statement_row(statement) for statement in statements),
    )
