"""An account's documents: invoices, credit notes, statements, billing details.

Anyone who may open the account's Billing page may read its documents (the
same ``load_account`` gate: another account's number is a 404). A document
page is a standalone HTML document, printed and turned into a PDF from the
same template; ``billing.document_views`` builds what it shows.
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods, require_safe

from billing.document_views import (
    credit_note_document,
    get_credit_note_for_account,
    get_invoice_for_account,
    get_statement_for_account,
    invoice_document,
    list_account_documents,
    statement_document,
)
from billing.documents import (
    find_billing_details,
)
from billing.errors import BillingError
from billing.errors import PermissionDenied as BillingPermissionDenied
from billing.pdf import pdf_available, render_pdf
from billing.services.documents import save_billing_details

from ..forms import BillingDetailsForm, year_choice
from ..http import AccountPage, AuthedHttpRequest, load_account, or_404

INVOICE = "documents/invoice.html"
CREDIT_NOTE = "documents/credit_note.html"
STATEMENT = "documents/statement.html"


def _document_page(
    request: AuthedHttpRequest, template: str, page: AccountPage, doc: Any, pdf_url: str
) -> HttpResponse:
    context = {
        "page": page,
        "doc": doc,
        "documents_url": reverse("dashboard:user-documents", args=[page.account.pk]),
        "pdf_url": pdf_url,
        "pdf_available": pdf_available(),
    }
    return render(request, template, context)


def _pdf_response(template: str, doc: Any, page_url: str) -> HttpResponse:
    """The document as a PDF download, or a 503 saying the page still works."""
    if not pdf_available():
        html = render_to_string(
            "documents/pdf_unavailable.html", {"doc": doc, "page_url": page_url}
        )
        return HttpResponse(html, status=503)
    response = HttpResponse(
        render_pdf(template=template, context={"doc": doc}),
        content_type="application/pdf",
    )
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=doc.pdf_filename
    )
    return response


@login_required
@require_safe
def user_documents(request: AuthedHttpRequest, account_id: int) -> HttpResponse:
    """The account's invoices, credit notes and statements, by year."""
    page = load_account(request, account_id)
    documents = list_account_documents(
        account=page.account, year=year_choice(request.GET.get("year"))
    )
    context = {
        "page": page,
        "tab": "documents",
        "documents": documents,
        "pdf_available": pdf_available(),
    }
    return render(request, "dashboard/user/documents.html", context)


@login_required
@require_safe
def user_invoice(
    request: AuthedHttpRequest, account_id: int, number: str
) -> HttpResponse:
    page = load_account(request, account_id)
    invoice = or_404(get_invoice_for_account, account=page.account, number=number)
    pdf_url = reverse("dashboard:user-invoice-pdf", args=[page.account.pk, number])
    return _document_page(
        request, INVOICE, page, invoice_document(invoice=invoice), pdf_url
    )


@login_required
@require_safe
def user_invoice_pdf(
    request: AuthedHttpRequest, account_id: int, number: str
) -> HttpResponse:
    page = load_account(request, account_id)
    invoice = or_404(get_invoice_for_account, account=page.account, number=number)
    page_url = reverse("dashboard:user-invoice", args=[page.account.pk, number])
    return _pdf_response(INVOICE, invoice_document(invoice=invoice), page_url)


@login_required
@require_safe
def user_credit_note(
    request: AuthedHttpRequest, account_id: int, number: str
) -> HttpResponse:
    page = load_account(request, account_id)
    note = or_404(get_credit_note_for_account, account=page.account, number=number)
    pdf_url = reverse("dashboard:user-credit-note-pdf", args=[page.account.pk, number])
    return _document_page(
        request, CREDIT_NOTE, page, credit_note_document(credit_note=note), pdf_url
    )


@login_required
@require_safe
def user_credit_note_pdf(
    request: AuthedHttpRequest, account_id: int, number: str
) -> HttpResponse:
    page = load_account(request, account_id)
    note = or_404(get_credit_note_for_account, account=page.account, number=number)
    page_url = reverse("dashboard:user-credit-note", args=[page.account.pk, number])
    return _pdf_response(CREDIT_NOTE, credit_note_document(credit_note=note), page_url)


@login_required
@require_safe
def user_statement(
    request: AuthedHttpRequest, account_id: int, month: str
) -> HttpResponse:
    page = load_account(request, account_id)
    statement = or_404(get_statement_for_account, account=page.account, month=month)
    pdf_url = reverse("dashboard:user-statement-pdf", args=[page.account.pk, month])
    return _document_page(
        request, STATEMENT, page, statement_document(statement=statement), pdf_url
    )


@login_required
@require_safe
def user_statement_pdf(
    request: AuthedHttpRequest, account_id: int, month: str
) -> HttpResponse:
    page = load_account(request, account_id)
    statement = or_404(get_statement_for_account, account=page.account, month=month)
    page_url = reverse("dashboard:user-statement", args=[page.account.pk, month])
    return _pdf_response(STATEMENT, statement_document(statement=statement), page_url)


@login_required
@require_http_methods(["GET", "POST"])
def user_billing_details(request: AuthedHttpRequest, account_id: int) -> HttpResponse:
    """Who documents are addressed to: owners and admins edit, members read."""
    page = load_account(request, account_id)
    details = find_billing_details(account=page.account)
    status = 200
    if request.method == "POST":
        if not page.can_manage:
            raise PermissionDenied(
                "Only the account's owners and admins can change its billing details."
            )
        form = BillingDetailsForm(request.POST)
        if form.is_valid():
            try:
                save_billing_details(
                    account=page.account, actor=request.user, **form.cleaned_data
                )
            except BillingPermissionDenied as error:
                raise PermissionDenied(error.message) from error
            except BillingError as error:
                form.add_error(None, error.message)
            else:
                messages.success(
                    request,
                    "Billing details saved: documents issued from now on use them.",
                )
                return redirect("dashboard:user-billing-details", page.account.pk)
        status = 422
    elif details is not None:
        form = BillingDetailsForm(
            initial={
                "legal_name": details.legal_name,
                "address": details.address,
                "country": str(details.country),
                "vat_id": details.vat_id,
            }
        )
    else:
        form = BillingDetailsForm(initial={"legal_name": page.account.name})
    context = {"page": page, "tab": "billing", "details": details, "form": form}
    return render(
        request, "dashboard/user/billing_details.html", context, status=status
    )
