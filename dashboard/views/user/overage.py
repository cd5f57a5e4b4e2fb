"""Overage consent per meter: give it with a cap, raise the cap, revoke it.

A cap that bills overage already used is confirmed in a second step that
names the amount (the service asks). The outcome is shown in the meter's own
card, where the user is looking after the form.
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from billing.errors import BillingError, ConfirmationRequired
from billing.models import Meter
from billing.quotas.current import period_overage
from billing.selectors import get_meter, quota_status
from billing.selectors.pages import MeterOverage, consent_outcome, overage_overview
from billing.services.consents import give_overage_consent, revoke_overage_consent
from billing.units import format_quantity

from ...forms import ConsentForm
from ...http import AccountPage, AuthedHttpRequest, load_account
from ...presenters import money, price_line, quota_card


def _meter_notice(meter_code: str) -> str:
    """Messages with this tag are shown inside that meter's card, where the
    user is looking after the form, instead of at the top of the page."""
    return f"meter-{meter_code}"


def _to_meter(page: AccountPage, meter_code: str) -> HttpResponseRedirect:
    url = reverse("dashboard:user-overage", args=[page.account.pk])
    return redirect(f"{url}#meter-{meter_code}")


def _give_consent(
    request: AuthedHttpRequest, page: AccountPage, form: ConsentForm
) -> Meter | None:
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
            actor=request.user,
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
    outcome = consent_outcome(account=page.account, meter=meter, at=timezone.now())
    if outcome.bills_already:
        messages.info(
            request,
            f"Billable so far this period: {money(outcome.billable_cents)}, charged "
            "when the period closes.",
            extra_tags=notice,
        )
    if outcome.cap_reached:
        messages.warning(
            request,
            f"The overage already used under your consent "
            f"({money(outcome.consented_cents)}) reaches this cap: at most "
            f"{money(form.cap_cents)} is billed, and new usage stays refused until "
            "you raise the cap or buy a pack.",
            extra_tags=notice,
        )
    return meter


def _overage_card(
    page: AccountPage, overage: MeterOverage, posted: ConsentForm | None
) -> dict[str, Any]:
    """One meter's card: the posted form where it was this meter's, else a
    fresh one starting from the live cap."""
    status = overage.status
    code = status.meter.code
    if posted is not None and posted.data.get("meter") == code:
        form = posted
    else:
        initial = {"meter": code, "cap": overage.cap_cents}
        form = ConsentForm(initial=initial, auto_id=f"{code}-%s")
    return {
        "overage": overage,
        "card": quota_card(status, account=page.account),
        "price": price_line(status.meter),
        "excess": format_quantity(status.excess, status.meter.unit),
        "form": form,
        "notice": _meter_notice(code),
    }


@login_required
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def user_overage(request: AuthedHttpRequest, account_id: int) -> HttpResponse:
    """Consent per meter; the result is shown in the meter's card (an
    ``aria-live`` region, which htmx swaps in place)."""
    page = load_account(request, account_id)
    posted = None
    if request.method == "POST":
        page.require_manager()
        posted = ConsentForm(
            request.POST, auto_id=f"{slugify(request.POST.get('meter', ''))}-%s"
        )
        if posted.is_valid():
            meter = _give_consent(request, page, posted)
            if meter is not None:
                return _to_meter(page, meter.code)
    overview = overage_overview(account=page.account, at=timezone.now())
    context = {
        "page": page,
        "tab": "overage",
        "meters": [_overage_card(page, item, posted) for item in overview.meters],
        "min_projection_days": overview.min_projection_days,
    }
    status_code = 200
    if posted is not None and posted.errors and not request.htmx:
        status_code = 422  # htmx swaps 2xx answers only
    return render(request, "dashboard/user/overage.html", context, status=status_code)


@login_required
@require_http_methods(["GET", "POST"])
def user_revoke_consent(
    request: AuthedHttpRequest, account_id: int, meter_code: str
) -> HttpResponse:
    """GET asks (what stays billable, what stops); POST revokes."""
    page = load_account(request, account_id)
    page.require_manager()
    try:
        meter = get_meter(code=meter_code)
    except BillingError as failure:
        raise Http404(failure.message) from failure
    if request.method == "POST":
        if revoke_overage_consent(
            account=page.account, meter=meter, actor=request.user
        ):
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
        return _to_meter(page, meter.code)
    now = timezone.now()
    status = quota_status(account=page.account, meter=meter, at=now)
    if status.consent is None:  # nothing to revoke
        return _to_meter(page, meter.code)
    context = {
        "page": page,
        "tab": "overage",
        "meter": meter,
        "status": status,
        "figures": period_overage(account=page.account, meter=meter, at=now),
    }
    return render(request, "dashboard/user/revoke_consent.html", context)
