"""The account's ledger, one charge's receipt, and paying what is due.

Paying is confirmed on a page listing the pending charges; the confirmation
pays only that list, so a resubmitted form never pays twice.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import dateformat
from django.views.decorators.http import require_http_methods

from billing.errors import ConfirmationRequired, PaymentDeclined
from billing.models import ChargeRecord
from billing.selectors import (
    PayPreview,
    get_charge_for_account,
    list_charges,
    pay_preview,
    receipt_purchase_id,
    settled_charges,
)
from billing.selectors.pages import balance_overview, charge_overview
from billing.services.payments import pay_outstanding_balance

from ...forms import TokenForm
from ...http import AccountPage, AuthedHttpRequest, load_account, or_404
from ...presenters import money, price_line

CHARGES_PER_PAGE = 20
# A paid message names at most this many charges; the ledger has them all.
PAID_NAMED = 5


def _charge_document_url(account_id: int, charge: ChargeRecord) -> str:
    """Pack purchases open their purchase receipt, every other charge its own page."""
    purchase_id = receipt_purchase_id(charge=charge)
    if purchase_id is not None:
        return reverse("dashboard:user-receipt", args=[account_id, purchase_id])
    return reverse("dashboard:user-charge", args=[account_id, charge.pk])


def _original_url(account_id: int, charge: ChargeRecord) -> str:
    """A refund's link to the charge it refunds; "" for any other charge."""
    if charge.refund_of is None:
        return ""
    return _charge_document_url(account_id, charge.refund_of)


@login_required
def user_billing(request: AuthedHttpRequest, account_id: int) -> HttpResponse:
    page = load_account(request, account_id)
    paginator = Paginator(list_charges(account=page.account), CHARGES_PER_PAGE)
    charges = paginator.get_page(request.GET.get("page"))
    rows = [
        {
            "charge": charge,
            "url": _charge_document_url(page.account.pk, charge),
            "original_url": _original_url(page.account.pk, charge),
        }
        for charge in charges
    ]
    context = {
        "page": page,
        "tab": "billing",
        "charges": charges,
        "rows": rows,
        "balance": balance_overview(account=page.account),
    }
    return render(request, "dashboard/user/billing.html", context)


@login_required
def user_charge(
    request: AuthedHttpRequest, account_id: int, charge_id: int
) -> HttpResponse:
    """One charge's receipt: what it is for, how much, when and how it was paid."""
    page = load_account(request, account_id)
    charge = or_404(get_charge_for_account, account=page.account, charge_id=charge_id)
    overview = charge_overview(charge=charge)
    context = {
        "page": page,
        "tab": "billing",
        "document": overview.document,
        "capped": overview.capped,
        "charge": charge,
        "price": price_line(charge.meter) if charge.meter else "",
        "purchase_url": reverse(
            "dashboard:user-receipt", args=[page.account.pk, charge.purchase_id]
        )
        if charge.purchase_id
        else "",
        "original_url": _original_url(page.account.pk, charge),
    }
    return render(request, "dashboard/user/charge.html", context)


def _posted_charge_ids(request: AuthedHttpRequest) -> list[int]:
    """The charge ids the confirmation listed (plain ASCII digits only)."""
    values = request.POST.getlist("charge")[:1000]
    return [int(v) for v in values if v.isascii() and v.isdigit() and len(v) < 19]


def _paid_message(paid_cents: int, count: int, shown: list[ChargeRecord]) -> str:
    message = f"Paid {money(paid_cents)} for {count} charge{'s' if count != 1 else ''}"
    if count != len(shown):
        return f"{message}."
    names = [c.description or c.get_kind_display() for c in shown[:PAID_NAMED]]
    more = f" and {count - PAID_NAMED} more" if count > PAID_NAMED else ""
    return f"{message}: {'; '.join(names)}{more}."


def _pay(request: AuthedHttpRequest, page: AccountPage, preview: PayPreview) -> bool:
    """Pay the charges ``preview`` listed; True once the outcome is told.

    False when nothing was paid because the pending set changed meanwhile:
    the caller then shows the list again.
    """
    try:
        payment = pay_outstanding_balance(
            account=page.account,
            actor=request.user,
            expected_charge_ids=[c.pk for c in preview.charges],
        )
    except ConfirmationRequired:
        return False  # a charge arrived meanwhile
    except PaymentDeclined as declined:
        messages.error(
            request,
            f"Payment declined: {declined.message} Nothing was charged; the "
            "charges are still due.",
        )
        return True
    if not payment.charges:
        return False
    messages.success(
        request, _paid_message(payment.paid_cents, payment.charges, preview.charges)
    )
    return True


def _told_already_paid(request: AuthedHttpRequest, page: AccountPage) -> bool:
    """A resubmitted confirmation: say when its charges were paid, if they all are."""
    settled = settled_charges(
        account=page.account, charge_ids=_posted_charge_ids(request)
    )
    if settled is None:
        return False
    when = (
        f" on {dateformat.format(settled.paid_at, 'j M Y, H:i')} UTC"
        if settled.paid_at
        else ""
    )
    messages.info(
        request,
        f"Already paid{when}: {money(settled.total_cents)} for {settled.count} "
        f"charge{'s' if settled.count != 1 else ''}. Nothing was charged again.",
    )
    return True


def _pay_confirmed(
    request: AuthedHttpRequest, page: AccountPage
) -> HttpResponse | tuple[int, str]:
    """Pay the confirmed list; or the status and message to show it again with.

    The token names the pending charges the page showed. Only while they
    are still exactly what is due does this pay; a resubmit finds them paid
    and reports that payment, and a list that changed is shown again.
    """
    form = TokenForm(request.POST)
    if not form.is_valid():
        return 422, "This confirmation form is incomplete; please confirm again."
    billing = redirect("dashboard:user-billing", page.account.pk)
    preview = pay_preview(account=page.account)
    confirmed = preview.payable and form.cleaned_data["token"] == preview.token
    if confirmed and _pay(request, page, preview):
        return billing
    if _told_already_paid(request, page):
        return billing
    if not preview.payable:
        messages.info(request, "There is nothing to pay: no charges are pending.")
        return billing
    return 409, (
        "The charges due changed since this page was opened. Nothing was "
        "charged: check the list below and confirm again."
    )


@login_required
@require_http_methods(["GET", "POST"])
def user_pay(request: AuthedHttpRequest, account_id: int) -> HttpResponse:
    """List what a payment would collect; pay it on confirmation (owners, admins)."""
    page = load_account(request, account_id)
    status, error = 200, ""
    if request.method == "POST":
        page.require_manager()
        outcome = _pay_confirmed(request, page)
        if isinstance(outcome, HttpResponse):
            return outcome
        status, error = outcome
    preview = pay_preview(account=page.account)
    context = {
        "page": page,
        "tab": "billing",
        "preview": preview,
        "rows": [
            {"charge": c, "url": _charge_document_url(page.account.pk, c)}
            for c in preview.charges
        ],
        "error": error,
    }
    return render(request, "dashboard/user/pay.html", context, status=status)
