"""Arriving, signing out, switching account, and the overview and usage pages."""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LogoutView
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from billing.quotas.current import limit_parts
from billing.selectors import (
    account_quotas,
    current_alerts,
    get_alert_for_account,
    list_active_packs,
    usage_history,
)
from billing.selectors.pages import balance_overview
from billing.services.alerts import dismiss_alert

from ...forms import HISTORY_RANGES, history_range
from ...http import (
    SESSION_ACCOUNT,
    AuthedHttpRequest,
    HtmxHttpRequest,
    current_account_id,
    load_account,
    or_404,
    render_page_or_partial,
    user_accounts,
    wants_partial,
)
from ...presenters import active_pack_line, chart_series, period_last_day, quota_card

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


def user_home(request: HtmxHttpRequest) -> HttpResponse:
    """Signed in: the account chosen last (or the personal one). Else: sign-in pitch."""
    user = request.user
    if not user.is_authenticated:
        return render(request, "dashboard/home.html")
    account_id = current_account_id(request, user_accounts(user))
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
def user_switch_account(request: AuthedHttpRequest) -> HttpResponse:
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
def user_overview(request: AuthedHttpRequest, account_id: int) -> HttpResponse:
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
        "balance": balance_overview(account=page.account),
        "active_packs": [
            active_pack_line(purchase, at=now)
            for purchase in list_active_packs(account=page.account, at=now)
        ],
    }
    return render(request, "dashboard/user/overview.html", context)


@login_required
@vary_on_headers("HX-Request")
@require_POST
def user_dismiss_alert(
    request: AuthedHttpRequest, account_id: int, alert_id: int
) -> HttpResponse:
    page = load_account(request, account_id)
    alert = or_404(get_alert_for_account, account=page.account, alert_id=alert_id)
    # Alerts are the account's, not the viewer's: hiding one hides it for the
    # owners who must act on it, so only they may.
    page.require_manager()
    dismiss_alert(alert=alert)
    if wants_partial(request):
        return HttpResponse("")  # the banner swaps itself out
    return redirect("dashboard:user-overview", page.account.pk)


@login_required
@vary_on_headers("HX-Request")
def user_usage(request: AuthedHttpRequest, account_id: int) -> HttpResponse:
    page = load_account(request, account_id)
    days = history_range(request.GET.get("range"))
    series = usage_history(account=page.account, days=days)
    context = {
        "page": page,
        "tab": "usage",
        "days": days,
        "ranges": HISTORY_RANGES,
        "charts": [chart_series(s) for s in series],
    }
    return render_page_or_partial(
        request, "dashboard/user/usage.html", "usage-charts", context
    )
