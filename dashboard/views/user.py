"""Pages of one billing account for the people in it.

Personal and company accounts share these pages (companies add job slots in
``company.py``). Every number comes from billing selectors and every change
from billing services: views parse the request, call, and render.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LogoutView
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from billing.errors import (
    BillingError,
    ConfirmationRequired,
    NotFound,
    PaymentDeclined,
)
from billing.models import ChargeRecord, Purchase
from billing.quotas.current import limit_parts, period_overage, period_overages
from billing.quotas.projection import MIN_DATA_DAYS, overage_projections
from billing.selectors import (
    account_quotas,
    charge_document,
    charge_preview,
    current_alerts,
    get_alert_for_account,
    get_charge_for_account,
    get_meter,
    get_pack,
    get_purchase_by_token,
    get_purchase_for_account,
    list_account_managers,
    list_active_packs,
    list_catalogue,
    list_charges,
    list_meters,
    list_purchases,
    outstanding_balance_cents,
    pack_applies,
    pay_preview,
    purchase_preview,
    quota_status,
    receipt_purchase_id,
    renewal_preview,
    sent_reminders,
    settled_charges,
    usage_history,
)
from billing.services.alerts import dismiss_alert
from billing.services.consents import give_overage_consent, revoke_overage_consent
from billing.services.packs import PurchaseResult, purchase_pack, renew_purchase
from billing.services.payments import pay_outstanding_balance
from billing.units import format_quantity

from ..forms import ConsentForm, MeterFilterForm, TokenForm, history_range
from ..http import (
    SESSION_ACCOUNT,
    AccountPage,
    HtmxHttpRequest,
    current_account_id,
    intent_token,
    load_account,
    user_accounts,
)
from ..presenters import (
    active_pack_line,
    chart_series,
    money,
    pack_cards,
    period_last_day,
    price_line,
    purchase_row,
    quota_card,
)

CHARGES_PER_PAGE = 20
# Pages the account switcher can land on, by URL name.
SWITCH_TARGETS = {
    "user-overview",
    "user-usage",
    "user-packs",
    "user-purchases",
    "user-overage",
    "user-billing",
    "user-documents",
    "user-billing-details",
    "company-job-slots",
}


def or_404[T](selector: Callable[..., T], **kwargs: Any) -> T:
    try:
        return selector(**kwargs)
    except NotFound as error:
        raise Http404(error.message) from error


def _require_manager(page: AccountPage) -> None:
    """Members may look; only owners and admins change anything (403)."""
    if not page.can_manage:
        raise PermissionDenied(
            "Only the account's owners and admins can buy, renew, consent or pay."
        )


def _partial(request: HtmxHttpRequest, template: str, name: str) -> str:
    """The named partial for an htmx swap, the whole page otherwise.

    A history-restore request wants the whole page even though it is htmx.
    """
    if request.htmx and not request.htmx.history_restore_request:
        return f"{template}#{name}"
    return template


def _confirm_payment(
    request: HtmxHttpRequest,
    page: AccountPage,
    pay: Callable[[str, int | None], PurchaseResult],
    *,
    unchanged: str,
) -> HttpResponse | str:
    """Run a confirmed purchase or renewal with the form's token.

    Returns the redirect to the receipt, or the message to show on the
    confirmation page (which then offers a fresh token).
    """
    _require_manager(page)
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


def user_home(request: HtmxHttpRequest) -> HttpResponse:
    """Signed in: the account chosen last (or the personal one). Else: sign-in pitch."""
    if not request.user.is_authenticated:
        return render(request, "dashboard/home.html")
    account_id = current_account_id(request, user_accounts(request))
    if account_id is None:
        return render(request, "dashboard/home.html", {"no_accounts": True})
    request.session[SESSION_ACCOUNT] = account_id
    return redirect("dashboard:user-overview", account_id)


@require_http_methods(["GET", "POST"])
def user_logout(request: HtmxHttpRequest) -> HttpResponse:
    """Signing out is a POST (CSRF-safe); a GET asks first instead of failing."""
    if request.method == "POST":
        return LogoutView.as_view()(request)
    return render(request, "registration/logout_confirm.html")


@login_required
@require_POST
def user_switch_account(request: HtmxHttpRequest) -> HttpResponse:
    try:
        account_id = int(request.POST.get("account", ""))
    except ValueError:
        raise Http404("No such account.") from None
    page = load_account(request, account_id)  # 404 unless the user belongs to it
    target = request.POST.get("page", "user-overview")
    if target not in SWITCH_TARGETS or (
        target == "company-job-slots" and not page.is_company
    ):
        target = "user-overview"
    request.session[SESSION_ACCOUNT] = page.account.pk
    return redirect(f"dashboard:{target}", page.account.pk)


@login_required
def user_overview(request: HtmxHttpRequest, account_id: int) -> HttpResponse:
    page = load_account(request, account_id)
    now = timezone.now()
    statuses = account_quotas(account=page.account, at=now)
    parts = limit_parts(account=page.account, statuses=statuses, at=now)
    context = {
        "page": page,
        "tab": "overview",
        "cards": [
            quota_card(s, account=page.account, parts=parts.get(s.meter.pk, ()))
            for s in statuses
        ],
        "period": statuses[0].period if statuses else None,
        "period_last_day": period_last_day(statuses[0]) if statuses else None,
        "alerts": current_alerts(account=page.account, statuses=statuses, at=now),
        "balance_cents": outstanding_balance_cents(account=page.account),
        "active_packs": [
            active_pack_line(purchase, at=now)
            for purchase in list_active_packs(account=page.account, at=now)
        ],
    }
    return render(request, "dashboard/user/overview.html", context)


@login_required
@require_POST
def user_dismiss_alert(
    request: HtmxHttpRequest, account_id: int, alert_id: int
) -> HttpResponse:
    page = load_account(request, account_id)
    alert = or_404(get_alert_for_account, account=page.account, alert_id=alert_id)
    # Alerts are the account's, not the viewer's: hiding one hides it for the
    # owners who must act on it, so only they may.
    _require_manager(page)
    dismiss_alert(alert=alert)
    if request.htmx:
        return HttpResponse("")  # the banner swaps itself out
    return redirect("dashboard:user-overview", page.account.pk)


@login_required
@vary_on_headers("HX-Request")
def user_usage(request: HtmxHttpRequest, account_id: int) -> HttpResponse:
    page = load_account(request, account_id)
    days = history_range(request.GET.get("range"))
    series = usage_history(account=page.account, days=days)
    context = {
        "page": page,
        "tab": "usage",
        "days": days,
        "ranges": (30, 90, 180),
        "charts": [chart_series(s) for s in series],
    }
    template = _partial(request, "dashboard/user/usage.html", "usage-charts")
    return render(request, template, context)


@login_required
@vary_on_headers("HX-Request")
def user_packs(request: HtmxHttpRequest, account_id: int) -> HttpResponse:
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
    template = _partial(request, "dashboard/user/packs.html", "pack-list")
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def user_pack_confirm(
    request: HtmxHttpRequest, account_id: int, code: str
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
                user=request.user,
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
    bought = get_purchase_by_token(account=page.account, token=token)
    if bought is not None and bought.status == Purchase.Status.FAILED:
        token, bought = intent_token(request, key, rotate=True), None
    context = {
        "page": page,
        "tab": "packs",
        "pack": pack,
        "preview": purchase_preview(account=page.account, pack=pack),
        "token": token,
        "bought": bought,  # this intent already bought: offer "Buy it again"
        "error": error,
    }
    return render(request, "dashboard/user/pack_confirm.html", context)


@login_required
def user_receipt(
    request: HtmxHttpRequest, account_id: int, purchase_id: int
) -> HttpResponse:
    page = load_account(request, account_id)
    purchase = or_404(
        get_purchase_for_account, account=page.account, purchase_id=purchase_id
    )
    context = {
        "page": page,
        "tab": "purchases",
        "purchase": purchase,
        "charges": list(
            purchase.charges.select_related("invoice", "credit_note").order_by("pk")
        ),
        "grants": list(purchase.grants.select_related("meter")),
        "cards": [
            quota_card(s, account=page.account)
            for s in account_quotas(account=page.account)
        ],
    }
    return render(request, "dashboard/user/receipt.html", context)


@login_required
def user_purchases(request: HtmxHttpRequest, account_id: int) -> HttpResponse:
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
    }
    return render(request, "dashboard/user/purchases.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def user_renew(
    request: HtmxHttpRequest, account_id: int, purchase_id: int
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
                user=request.user,
                idempotency_key=token,
                shown_price_cents=price,
            ),
            unchanged="the pack was not renewed",
        )
        if isinstance(outcome, HttpResponse):
            return outcome
        error = outcome
    context = {
        "page": page,
        "tab": "purchases",
        "purchase": purchase,
        "preview": renewal_preview(purchase=purchase, at=timezone.now()),
        "lines": list(purchase.pack.allowances.select_related("meter")),
        "token": intent_token(
            request, f"renew:{page.account.pk}:{purchase.pk}", rotate=bool(error)
        ),
        "error": error,
    }
    return render(request, "dashboard/user/renew.html", context)


def _meter_notice(meter_code: str) -> str:
    """Messages with this tag are shown inside that meter's card, where the
    user is looking after the form, instead of at the top of the page."""
    return f"meter-{meter_code}"


def _give_consent(request: HtmxHttpRequest, page: AccountPage, form: ConsentForm):
    """Give the consent the valid ``form`` asks for. Returns the meter, or
    None with the form carrying what to say (an error, or the amount this
    cap would bill at once, to be confirmed)."""
    try:
        meter = get_meter(code=form.cleaned_data["meter"])
        give_overage_consent(
            account=page.account,
            meter=meter,
            cap_cents=form.cap_cents,
            recurring=form.recurring,
            user=request.user,
            acknowledged_cents=form.acknowledged_cents,
        )
    except ConfirmationRequired as asked:
        form.newly_billable_cents = asked.details["newly_billable_cents"]
        return None
    except BillingError as failure:
        form.add_error(None, failure.message)
        return None
    notice = _meter_notice(meter.code)
    messages.success(
        request,
        f"Overage on {meter.name} confirmed, capped at {money(form.cap_cents)}.",
        extra_tags=notice,
    )
    figures = period_overage(account=page.account, meter=meter, at=timezone.now())
    if figures.billable_cents:
        messages.info(
            request,
            f"Billable so far this period: {money(figures.billable_cents)}, charged "
            "when the period closes.",
            extra_tags=notice,
        )
    if figures.cap_reached:
        messages.warning(
            request,
            f"The overage already used under your consent "
            f"({money(figures.consented_cents)}) reaches this cap: at most "
            f"{money(form.cap_cents)} is billed, and new usage stays refused until "
            "you raise the cap or buy a pack.",
            extra_tags=notice,
        )
    return meter


@login_required
@require_http_methods(["GET", "POST"])
def user_overage(request: HtmxHttpRequest, account_id: int) -> HttpResponse:
    """Consent per meter. A cap that bills overage already used is confirmed
    in a second step that names the amount; the result is shown in the
    meter's card (an ``aria-live`` region, swapped in place under htmx)."""
    page = load_account(request, account_id)
    posted = None
    if request.method == "POST":
        _require_manager(page)
        posted = ConsentForm(
            request.POST, auto_id=f"{slugify(request.POST.get('meter', ''))}-%s"
        )
        if posted.is_valid():
            meter = _give_consent(request, page, posted)
            if meter is not None:
                url = reverse("dashboard:user-overage", args=[page.account.pk])
                return redirect(f"{url}#meter-{meter.code}")
    now = timezone.now()
    statuses = [
        s
        for s in account_quotas(account=page.account, at=now)
        if not s.meter.is_hard_limit
    ]
    figures = period_overages(
        account=page.account, meters=[s.meter for s in statuses], at=now
    )
    projections = overage_projections(account=page.account, statuses=statuses, at=now)
    meters = []
    for status in statuses:
        code = status.meter.code
        if posted is not None and posted.data.get("meter") == code:
            form = posted
        else:
            initial = {
                "meter": code,
                "cap": Decimal(status.cap_cents).scaleb(-2)
                if status.cap_cents
                else None,
            }
            form = ConsentForm(initial=initial, auto_id=f"{code}-%s")
        meters.append(
            {
                "status": status,
                "card": quota_card(status, account=page.account),
                "price": price_line(status.meter),
                "excess": format_quantity(status.excess, status.meter.unit),
                # One home with period close: billable, beyond the cap, and
                # used without a live consent.
                "figures": figures[status.meter.pk],
                "projection": projections.get(status.meter.pk),
                "form": form,
                "notice": _meter_notice(code),
            }
        )
    context = {
        "page": page,
        "tab": "overage",
        "meters": meters,
        "min_projection_days": MIN_DATA_DAYS,
    }
    status_code = 200
    if posted is not None and posted.errors and not request.htmx:
        status_code = 422  # htmx swaps 2xx answers only
    return render(request, "dashboard/user/overage.html", context, status=status_code)


@login_required
@require_http_methods(["GET", "POST"])
def user_revoke_consent(
    request: HtmxHttpRequest, account_id: int, meter_code: str
) -> HttpResponse:
    """GET asks (what stays billable, what stops); POST revokes."""
    page = load_account(request, account_id)
    _require_manager(page)
    try:
        meter = get_meter(code=meter_code)
    except BillingError as failure:
        raise Http404(failure.message) from failure
    url = reverse("dashboard:user-overage", args=[page.account.pk])
    if request.method == "POST":
        if revoke_overage_consent(account=page.account, meter=meter, user=request.user):
            figures = period_overage(
                account=page.account, meter=meter, at=timezone.now()
            )
            messages.success(
                request,
                f"Overage consent for {meter.name} revoked: usage past the limit is "
                f"refused from now on. {money(figures.billable_cents)} used while "
                "it was live is still billed at period close.",
                extra_tags=_meter_notice(meter.code),
            )
        return redirect(f"{url}#meter-{meter.code}")
    status = quota_status(account=page.account, meter=meter, at=timezone.now())
    if status.consent is None:
        return redirect(f"{url}#meter-{meter.code}")
    context = {
        "page": page,
        "tab": "overage",
        "meter": meter,
        "status": status,
        "figures": period_overage(account=page.account, meter=meter, at=timezone.now()),
    }
    return render(request, "dashboard/user/revoke_consent.html", context)


def _charge_document_url(account_id: int, charge: ChargeRecord) -> str:
    """Pack purchases open their purchase receipt, every other charge its own page."""
    purchase_id = receipt_purchase_id(charge=charge)
    if purchase_id is not None:
        return reverse("dashboard:user-receipt", args=[account_id, purchase_id])
    return reverse("dashboard:user-charge", args=[account_id, charge.pk])


@login_required
def user_billing(request: HtmxHttpRequest, account_id: int) -> HttpResponse:
    page = load_account(request, account_id)
    paginator = Paginator(list_charges(account=page.account), CHARGES_PER_PAGE)
    charges = paginator.get_page(request.GET.get("page"))
    rows = [
        {
            "charge": charge,
            "url": _charge_document_url(page.account.pk, charge),
            "original_url": _charge_document_url(page.account.pk, charge.refund_of)
            if charge.refund_of_id
            else "",
        }
        for charge in charges
    ]
    context = {
        "page": page,
        "tab": "billing",
        "charges": charges,
        "rows": rows,
        "balance_cents": outstanding_balance_cents(account=page.account),
    }
    return render(request, "dashboard/user/billing.html", context)


@login_required
def user_charge(
    request: HtmxHttpRequest, account_id: int, charge_id: int
) -> HttpResponse:
    """One charge's receipt: what it is for, how much, when and how it was paid."""
    page = load_account(request, account_id)
    charge = or_404(get_charge_for_account, account=page.account, charge_id=charge_id)
    context = {
        "page": page,
        "tab": "billing",
        "document": charge_document(charge=charge),
        "charge": charge,
        "price": price_line(charge.meter) if charge.meter else "",
        "purchase_url": reverse(
            "dashboard:user-receipt", args=[page.account.pk, charge.purchase_id]
        )
        if charge.purchase_id
        else "",
        "original_url": _charge_document_url(page.account.pk, charge.refund_of)
        if charge.refund_of_id
        else "",
    }
    return render(request, "dashboard/user/charge.html", context)


# A paid message names at most this many charges; the ledger has them all.
PAID_NAMED = 5


def _posted_charge_ids(request: HtmxHttpRequest) -> list[int]:
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


def _pay_confirmed(
    request: HtmxHttpRequest, page: AccountPage
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
    if preview.payable and form.cleaned_data["token"] == preview.token:
        try:
            payment = pay_outstanding_balance(
                account=page.account,
                user=request.user,
                expected_charge_ids=[c.pk for c in preview.charges],
            )
        except ConfirmationRequired:
            payment = None  # a charge arrived meanwhile: show the list again
        except PaymentDeclined as declined:
            messages.error(
                request,
                f"Payment declined: {declined.message} Nothing was charged; the "
                "charges are still due.",
            )
            return billing
        if payment is not None and payment.charges:
            messages.success(
                request,
                _paid_message(payment.paid_cents, payment.charges, preview.charges),
            )
            return billing
    settled = settled_charges(
        account=page.account, charge_ids=_posted_charge_ids(request)
    )
    if settled is not None:
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
def user_pay(request: HtmxHttpRequest, account_id: int) -> HttpResponse:
    """List what a payment would collect; pay it on confirmation (owners, admins)."""
    page = load_account(request, account_id)
    status, error = 200, ""
    if request.method == "POST":
        _require_manager(page)
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
