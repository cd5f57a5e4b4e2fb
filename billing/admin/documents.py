"""Staff admin for issued documents: invoices, credit notes, statements
(tax rates and billing details: ``tax.py`` beside this module).

Issued documents are facts, immutable in the database: viewable with the
model's view permission, never added, edited or deleted here. Accountants
download the documents of a date range as CSV from the invoice list.
"""

from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html_join

from dashboard.csv_export import write_rows

from ..exports import (
    EXPORT_HEADER,
    credit_note_status,
    export_filename,
    invoice_export_rows,
    invoice_status,
    with_credited_cents,
)
from ..models import (
    CreditNote,
    CreditNoteLine,
    DocumentSequence,
    Invoice,
    InvoiceLine,
    Statement,
    StatementLine,
)
from ..units import Period, period_of
from .base import ReadOnlyAdmin, ReadOnlyInline, change_link, money

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

VIEW_INVOICE = "billing.view_invoice"


class _Credited(TypedDict):
    credited_cents: int


# Issued documents -----------------------------------------------------------


class DocumentLinesInline(ReadOnlyInline):
    """A document's lines, shown to whoever may view the document."""

    document_field: str  # the line's foreign key to its document

    def has_view_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        # Lines have no permission of their own worth granting apart.
        opts = self.parent_model._meta
        return request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}")

    def money(self, line: Model, field: str) -> str:
        # The inline formset sets each line's document: no query per line.
        document = getattr(line, self.document_field)
        return money(getattr(line, field), document.currency)


class IssuedLinesInline(DocumentLinesInline):
    """An invoice's or a credit note's lines, with their money columns."""

    fields = (
        "position",
        "description",
        "quantity",
        "unit_net",
        "net",
        "rate",
        "tax",
        "gross",
    )

    @admin.display(description="Unit net")
    def unit_net(self, line: InvoiceLine | CreditNoteLine) -> str:
        return self.money(line, "unit_net_cents")

    @admin.display(description="Net")
    def net(self, line: InvoiceLine | CreditNoteLine) -> str:
        return self.money(line, "net_cents")

    @admin.display(description="Tax rate")
    def rate(self, line: InvoiceLine | CreditNoteLine) -> str:
        return f"{line.tax_rate_percent}%"

    @admin.display(description="Tax")
    def tax(self, line: InvoiceLine | CreditNoteLine) -> str:
        return self.money(line, "tax_cents")

    @admin.display(description="Gross")
    def gross(self, line: InvoiceLine | CreditNoteLine) -> str:
        return self.money(line, "gross_cents")


class InvoiceLineInline(IssuedLinesInline):
    model = InvoiceLine
    document_field = "invoice"


class CreditNoteLineInline(IssuedLinesInline):
    model = CreditNoteLine
    document_field = "credit_note"


class StatementLineInline(DocumentLinesInline):
    model = StatementLine
    document_field = "statement"
    fields = (
        "position",
        "at",
        "kind",
        "description",
        "reference",
        "amount",
        "balance",
    )

    @admin.display(description="Amount due moves by")
    def amount(self, line: StatementLine) -> str:
        return self.money(line, "amount_cents")

    @admin.display(description="Amount due after")
    def balance(self, line: StatementLine) -> str:
        return self.money(line, "balance_cents")


# The "Parties" fieldset of invoices and credit notes.
PARTIES = (
    ("seller_name", "seller_country", "seller_vat_id"),
    "seller_address",
    "seller_bank",
    ("buyer_name", "buyer_country", "buyer_vat_id"),
    "buyer_address",
    "buyer_email",
)


class IssuedDocumentAdmin(ReadOnlyAdmin[Invoice | CreditNote]):
    list_select_related: ClassVar[tuple[str, ...]] = ("account",)
    search_fields: ClassVar[tuple[str, ...]] = (
        "number",
        "account__name",
        "account__external_id",
        "buyer_name",
    )
    date_hierarchy = "issued_at"
    list_filter = ("issued_at", "reverse_charge")
    money_columns = {"net_cents": "net", "tax_cents": "tax", "gross_cents": "gross"}

    @admin.display(description="Net", ordering="net_cents")
    def net(self, obj: Invoice | CreditNote) -> str:
        return money(obj.net_cents, obj.currency)

    @admin.display(description="Tax", ordering="tax_cents")
    def tax(self, obj: Invoice | CreditNote) -> str:
        return money(obj.tax_cents, obj.currency)

    @admin.display(description="Gross", ordering="gross_cents")
    def gross(self, obj: Invoice | CreditNote) -> str:
        return money(obj.gross_cents, obj.currency)


class InvoiceExportForm(forms.Form):
    """Inclusive UTC days: what the accountant's period says."""

    start = forms.DateField(
        label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Both days included (UTC).",
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start > end:
            self.add_error("end", "The last day comes on or after the first.")
        return cleaned


@admin.register(Invoice)
class InvoiceAdmin(IssuedDocumentAdmin):
    list_display = ("number", "account", "issued_at", "gross", "status")
    list_select_related = ("account", "charge")
    inlines = (InvoiceLineInline,)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("number", "issued_at"),
                    ("account", "charge_link"),
                    ("period_start", "period_end"),
                    "status",
                    "credit_notes_list",
                    "emailed_at",
                )
            },
        ),
        (
            "Amounts",
            {"fields": (("net", "tax", "gross"), "currency", "reverse_charge", "note")},
        ),
        ("Parties", {"fields": PARTIES}),
    )
    readonly_fields = ("charge_link", "status", "credit_notes_list")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Invoice]:
        return with_credited_cents(super().get_queryset(request))

    @admin.display(description="Status")
    def status(self, obj: "WithAnnotations[Invoice, _Credited]") -> str:
        return invoice_status(
            charge_status=obj.charge.status,
            gross_cents=obj.gross_cents,
            credited_cents=obj.credited_cents,
        )

    @admin.display(description="Charge")
    def charge_link(self, obj: Invoice) -> str:
        return change_link(obj.charge)

    @admin.display(description="Credit notes")
    def credit_notes_list(self, obj: Invoice) -> str:
        notes = list(obj.credit_notes.order_by("issued_at", "pk"))
        if not notes:
            return "—"
        return format_html_join(", ", "{}", ((change_link(n),) for n in notes))

    def get_urls(self) -> list:
        export = path(
            "export/",
            self.admin_site.admin_view(self.export_view),
            name="billing_invoice_export",
        )
        return [export, *super().get_urls()]

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The date-range form; once valid, the CSV of that range."""
        if not request.user.has_perm(VIEW_INVOICE):
            raise PermissionDenied
        last_month = period_of(timezone.now()).previous()
        form = InvoiceExportForm(
            request.GET if "start" in request.GET else None,
            initial={"start": last_month.start, "end": last_month.last_day},
        )
        if form.is_valid():
            start, end = form.cleaned_data["start"], form.cleaned_data["end"]
            response = HttpResponse(content_type="text/csv; charset=utf-8")
            filename = export_filename(start=start, end=end)
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            rows = invoice_export_rows(start=start, end=end)
            write_rows(response, EXPORT_HEADER, (row.cells() for row in rows))
            return response
        context = {
            **self.admin_site.each_context(request),
            "title": "Export invoices and credit notes",
            "subtitle": None,
            "form": form,
            "opts": self.opts,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            "admin/billing/invoice/export.html",
            context,
            status=400 if form.is_bound else 200,
        )


@admin.register(CreditNote)
class CreditNoteAdmin(IssuedDocumentAdmin):
    list_display = ("number", "account", "issued_at", "gross", "status", "invoice")
    list_select_related = ("account", "invoice")
    inlines = (CreditNoteLineInline,)
    search_fields = (*IssuedDocumentAdmin.search_fields, "invoice__number")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("number", "issued_at"),
                    ("account", "invoice_link", "charge_link"),
                    "status",
                    "reason",
                )
            },
        ),
        ("Amounts credited", {"fields": (("net", "tax", "gross"), "currency")}),
        ("Parties", {"fields": PARTIES}),
    )
    readonly_fields = ("invoice_link", "charge_link", "status")

    @admin.display(description="Status")
    def status(self, obj: CreditNote) -> str:
        return credit_note_status(credit_note=obj)

    @admin.display(description="Invoice")
    def invoice_link(self, obj: CreditNote) -> str:
        return change_link(obj.invoice)

    @admin.display(description="Charge")
    def charge_link(self, obj: CreditNote) -> str:
        return change_link(obj.charge)


@admin.register(Statement)
class StatementAdmin(ReadOnlyAdmin[Statement]):
    list_display = ("month", "account", "issued_at", "opening_due", "closing_due")
    list_select_related = ("account",)
    search_fields = ("account__name", "account__external_id", "buyer_name")
    date_hierarchy = "issued_at"
    list_filter = ("issued_at", "period_start")
    inlines = (StatementLineInline,)
    money_columns = {
        "opening_due_cents": "opening_due",
        "charges_cents": "charges",
        "payments_cents": "payments",
        "refunds_cents": "refunds",
        "credits_cents": "credits",
        "closing_due_cents": "closing_due",
    }
    fields = (
        "account",
        "period_start",
        "issued_at",
        "currency",
        "buyer_name",
        "buyer_address",
        "opening_due_cents",
        "charges_cents",
        "payments_cents",
        "refunds_cents",
        "credits_cents",
        "closing_due_cents",
    )

    @admin.display(description="Month", ordering="period_start")
    def month(self, obj: Statement) -> str:
        return str(Period(obj.period_start))

    def _cents(self, obj: Statement, field: str) -> str:
        return money(getattr(obj, field), obj.currency)

    @admin.display(description="Opening amount due", ordering="opening_due_cents")
    def opening_due(self, obj: Statement) -> str:
        return self._cents(obj, "opening_due_cents")

    @admin.display(description="Charges issued")
    def charges(self, obj: Statement) -> str:
        return self._cents(obj, "charges_cents")

    @admin.display(description="Payments received")
    def payments(self, obj: Statement) -> str:
        return self._cents(obj, "payments_cents")

    @admin.display(description="Refunds paid out")
    def refunds(self, obj: Statement) -> str:
        return self._cents(obj, "refunds_cents")

    @admin.display(description="Credit notes")
    def credits(self, obj: Statement) -> str:
        return self._cents(obj, "credits_cents")

    @admin.display(description="Closing amount due", ordering="closing_due_cents")
    def closing_due(self, obj: Statement) -> str:
        return self._cents(obj, "closing_due_cents")


class DocumentLineAdmin(ReadOnlyAdmin[InvoiceLine | CreditNoteLine]):
    """Lines on their own, for search; they are read with their document."""

    list_display = ("document", "position", "description", "gross_cents")
    search_fields: ClassVar[tuple[str, ...]] = ("description",)


@admin.register(InvoiceLine)
class InvoiceLineAdmin(DocumentLineAdmin):
    list_select_related = ("invoice",)
    search_fields = ("description", "invoice__number")

    @admin.display(description="Invoice", ordering="invoice")
    def document(self, obj: InvoiceLine) -> str:
        return obj.invoice.number


@admin.register(CreditNoteLine)
class CreditNoteLineAdmin(DocumentLineAdmin):
    list_select_related = ("credit_note",)
    search_fields = ("description", "credit_note__number")

    @admin.display(description="Credit note", ordering="credit_note")
    def document(self, obj: CreditNoteLine) -> str:
        return obj.credit_note.number


@admin.register(StatementLine)
class StatementLineAdmin(ReadOnlyAdmin[StatementLine]):
    list_display = ("statement", "position", "at", "kind", "amount_cents")
    list_select_related = ("statement__account",)
    list_filter = ("kind",)
    search_fields = ("description", "reference", "statement__account__name")


@admin.register(DocumentSequence)
class DocumentSequenceAdmin(ReadOnlyAdmin[DocumentSequence]):
    """The last number taken per series and year (issuers move it)."""

    list_display = ("series", "year", "last_number")
    list_filter = ("series",)
