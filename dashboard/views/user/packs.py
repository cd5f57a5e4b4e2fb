"""The pack catalogue, buying and renewing a pack, purchases and receipts.

Buying and renewing are confirmed on a page of their own that posts an
idempotency token: a resubmitted confirmation replays the first purchase
instead of charging twice.
"""

from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from billing.errors import BillingError
from billing.models import Purchase
from billing.selectors import (
    charge_preview,
    find_purchase_by_token,
    get_pack,
    get_purchase_for_account,
    list_account_managers,
    list_catalogue,
    list_meters,
    list_purchases,
    pack_applies,
    purchase_preview,
    sent_reminders,
)
from billing.selectors.pages import purchase_receipt, renewal_overview
from billing.services.packs import PurchaseResult, purchase_pack, renew_purchase

from ...forms import MeterFilterForm, TokenForm
from ...http import (
    AccountPage,
    AuthedHttpRequest,
    intent_token,
    load_account,
    or_404,
    render_page_or_partial,
)
from ...presenters import pack_cards, purchase_row, quota_card, reminders_phrase


def _confirm_payment(
    request: AuthedHttpRequest,
    page: AccountPage,
    pay: Callable[[str, int | None], PurchaseResult],
    *,
    unchanged: str,
) -> HttpResponse | str:
    """Run a confirmed purchase or renewal with the form's token.

    Returns the redirect to the receipt, or the message to show on the
    confirmation page (which then offers a fresh token).
    """
    page.require_manager()
    form = TokenForm(request.POST)
    if not form.is_valid():
        return "This confirmation form is incomplete; please confirm again."
    try:
        result = pay(form.cleaned_data["token"], form.shown_price_cents)
    except BillingError as failure:
        return failure.message
    if not result.approved:
        return (
            f"Payment declined: {result.charge.failure_reason} Nothing was charged "
            f"and {unchanged}."
        )
    return redirect("dashboard:user-receipt", page.account.pk, result.purchase.pk)


@login_required
@vary_on_headers("HX-Request")
def user_packs(request: AuthedHttpRequest, account_id: int) -> HttpResponse:
    page = load_account(request, account_id)
    meters = list_meters(account=page.account)
    form = MeterFilterForm(request.GET or None, meters=meters)
    meter_code = form.cleaned_data["meter"] if form.is_valid() else ""
    packs = list_catalogue(account=page.account, meter_code=meter_code or None)
    context = {
        "page": page,
        "tab": "packs",
        "form": form,
        "meter_code": meter_code,
        "cards": pack_cards(list(packs)),
        # Prices are net: the cards say which tax confirming adds.
        "tax": charge_preview(account=page.account, lines=[], at=timezone.now()),
        # Whom a member without buying rights can ask; the rule is can_manage.
        "managers": (
            [] if page.can_manage else list_account_managers(account=page.account)
        ),
    }
    return render_page_or_partial(
        request, "dashboard/user/packs.html", "pack-list", context
    )


@login_required
@require_http_methods(["GET", "POST"])
def user_pack_confirm(
    request: AuthedHttpRequest, account_id: int, code: str
) -> HttpResponse:
    """Confirm a purchase. The form's token makes a resubmit a replay, not a buy."""
    page = load_account(request, account_id)
    pack = or_404(get_pack, code=code)
    if not pack_applies(pack=pack, account=page.account):
        raise Http404("Job-slot packs are for company accounts.")
    error = ""
    if request.method == "POST":
        outcome = _confirm_payment(
            request,
            page,
            lambda token, price: purchase_pack(
                account=page.account,
                pack=pack,
                actor=request.user,
                idempotency_key=token,
                shown_price_cents=price,
            ),
            unchanged="your limits are unchanged",
        )
        if isinstance(outcome, HttpResponse):
            return outcome
        error = outcome
    key = f"buy:{page.account.pk}:{pack.code}"
    token = intent_token(request, key, rotate=bool(error) or "again" in request.GET)
    bought = find_purchase_by_token(account=page.account, token=token)
    if bought is not None and bought.status == Purchase.Status.FAILED:
        token, bought = intent_token(request, key, rotate=True), None
    context = {
        "page": page,
        "tab": "packs",
        "pack": pack,
        "preview": purchase_preview(account=page.account, pack=pack),
        "reminder_schedule": reminders_phrase(),
        "token": token,
        "bought": bought,  # this intent already bought: offer "Buy it again"
        "error": error,
    }
    return render(request, "dashboard/user/pack_confirm.html", context)


@login_required
def user_receipt(
    request: AuthedHttpRequest, account_id: int, purchase_id: int
) -> HttpResponse:
    page = load_account(request, account_id)
    purchase = or_404(
        get_purchase_for_account, account=page.account, purchase_id=purchase_id
    )
    receipt = purchase_receipt(purchase=purchase, at=timezone.now())
    context = {
        "page": page,
        "tab": "purchases",
        "purchase": purchase,
        "receipt": receipt,
        "cards": [quota_card(s, account=page.account) for s in receipt.statuses],
    }
    return render(request, "dashboard/user/receipt.html", context)


@login_required
def user_purchases(request: AuthedHttpRequest, account_id: int) -> HttpResponse:
    page = load_account(request, account_id)
    now = timezone.now()
    sent = sent_reminders(account=page.account)
    rows = [
        purchase_row(p, at=now, reminders=sent.get(p.pk))
        for p in list_purchases(account=page.account)
    ]
    context = {
        "page": page,
        "tab": "purchases",
        "active": [r for r in rows if r.status == "active"],
        "upcoming": [r for r in rows if r.status == "upcoming"],
        "ended": [r for r in rows if r.status not in ("active", "upcoming")],
        "reminder_schedule": reminders_phrase(),
    }
    return render(request, "dashboard/user/purchases.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def user_renew(
    request: AuthedHttpRequest, account_id: int, purchase_id: int
) -> HttpResponse:
    page = load_account(request, account_id)
    purchase = or_404(
        get_purchase_for_account, account=page.account, purchase_id=purchase_id
    )
    error = ""
    if request.method == "POST":
        outcome = _confirm_payment(
            request,
            page,
            lambda token, price: renew_purchase(
                purchase=purchase,
                actor=request.user,
                idempotency_key=token,
                shown_price_cents=price,
            ),
            unchanged="the pack was not renewed",
        )
        if isinstance(outcome, HttpResponse):
            return outcome
        error = outcome
    renewal = renewal_overview(purchase=purchase, at=timezone.now())
    context = {
        "page": page,
        "tab": "purchases",
        "purchase": purchase,
        "renewal": renewal,
        "preview": renewal.preview,
        "token": intent_token(
            request, f"renew:{page.account.pk}:{purchase.pk}", rotate=bool(error)
        ),
        "error": error,
    }
    return render(request, "dashboard/user/renew.html", context)
