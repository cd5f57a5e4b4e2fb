"""Theme store pages: browse, preview, buy, apply, submit, earnings, payouts.

Thin views: store selectors read, store services write, and their errors
become messages. Buying goes through a confirmation page whose form carries
a purchase token kept in the session, as for packs: a double click, a retry
or Back and resubmit replays the first sale (one charge) and lands on its
receipt.
"""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.csp import CSP
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from billing.errors import BillingError
from billing.permissions import VIEW_PAYOUTS
from store.checks import ACCESSIBILITY, PERFORMANCE
from store.errors import InvalidTheme
from store.models import Theme
from store.selectors import (
    bundle_bought,
    get_bundle,
    get_published_stylesheet,
    get_theme,
    get_theme_draft,
    get_theme_for_creator,
    get_theme_for_viewer,
    get_theme_image,
    list_bundles_on_show,
    list_creator_themes,
    list_listed_themes,
    list_owned_themes,
    list_theme_images,
    theme_access,
)
from store.selectors.earnings import earnings_overview, payouts_due
from store.selectors.purchases import (
    bundle_offer,
    find_sale_by_token,
    get_sale_for_viewer,
    list_sales,
    sale_receipt,
    theme_offer,
)
from store.services.sales import (
    SaleResult,
    apply_theme,
    purchase_bundle,
    purchase_theme,
)
from store.services.themes import build_stylesheet, submit_theme, update_theme

from ..forms import TokenForm
from ..http import (
    AuthedHttpRequest,
    HtmxHttpRequest,
    intent_token,
    or_404,
    render_page_or_partial,
    staff_power_required,
)
from ..store_forms import ApplyForm, ThemeForm

# The charset is stated so the browser decodes the sheet as the checks read it.
CSS_TYPE = "text/css; charset=utf-8"
# The preview is shown in an iframe on the store's own pages.
PREVIEW_CSP: dict[str, Any] = {**settings.SECURE_CSP, "frame-ancestors": [CSP.SELF]}


def _report_sections(theme: Theme) -> list[dict[str, Any]]:
    return [
        {
            "title": title,
            "checks": [c for c in theme.check_report if c["category"] == key],
        }
        for key, title in (
            (PERFORMANCE, "Performance"),
            (ACCESSIBILITY, "Accessibility"),
        )
    ]


# Browsing ------------------------------------------------------------------


@login_required
@require_GET
def store_themes(request: AuthedHttpRequest) -> HttpResponse:
    owned = {o.theme.pk for o in list_owned_themes(user=request.user)}
    context = {
        "tab": "browse",
        "themes": list_listed_themes(),
        "owned": owned,
        "bundles": list_bundles_on_show(),
    }
    return render(request, "dashboard/store/themes.html", context)


@login_required
@require_GET
def store_theme(request: AuthedHttpRequest, theme_id: int) -> HttpResponse:
    theme = or_404(get_theme_for_viewer, user=request.user, theme_id=theme_id)
    access = theme_access(user=request.user, theme=theme)
    context = {
        "tab": "browse",
        "theme": theme,
        "access": access,
        "images": list(list_theme_images(theme=theme)),
        "draft": not theme.is_listed,
    }
    return render(request, "dashboard/store/theme.html", context)


@login_required
@require_GET
@xframe_options_sameorigin
@csp_override(PREVIEW_CSP)
def store_theme_preview(request: AuthedHttpRequest, theme_id: int) -> HttpResponse:
    """A sample dashboard page with the theme applied (shown in an iframe)."""
    theme = or_404(get_theme_for_viewer, user=request.user, theme_id=theme_id)
    css_url = reverse("dashboard:store-theme-css", args=[theme.pk])
    if request.GET.get("draft") or not theme.published_at:
        css_url += f"?draft=1&v={int(theme.updated_at.timestamp())}"
    elif theme.published_at:
        css_url += f"?v={int(theme.published_at.timestamp())}"
    context = {"theme": theme, "theme_stylesheet_url": css_url}
    return render(request, "dashboard/store/preview.html", context)


@require_GET
def store_theme_css(request: HtmxHttpRequest, theme_id: int) -> HttpResponse:
    """The approved sheet; ``?draft=1``: the latest edit, for creator and reviewers."""
    if request.GET.get("draft"):
        theme = or_404(get_theme_draft, user=request.user, theme_id=theme_id)
        response = HttpResponse(build_stylesheet(theme=theme), content_type=CSS_TYPE)
        response["Cache-Control"] = "private, no-store"
        return response
    theme = or_404(get_published_stylesheet, theme_id=theme_id)
    response = HttpResponse(theme.published_stylesheet, content_type=CSS_TYPE)
    response["Cache-Control"] = "public, max-age=86400"
    return response


@login_required
@require_GET
def store_theme_image(
    request: AuthedHttpRequest, theme_id: int, image_id: int
) -> HttpResponse:
    theme = or_404(get_theme_for_viewer, user=request.user, theme_id=theme_id)
    image = or_404(get_theme_image, theme=theme, image_id=image_id)
    response = HttpResponse(bytes(image.data), content_type=image.content_type)
    response["Cache-Control"] = "private, max-age=86400"
    return response


@login_required
@require_GET
def store_bundle(request: AuthedHttpRequest, bundle_id: int) -> HttpResponse:
    card = or_404(get_bundle, bundle_id=bundle_id)
    context = {
        "tab": "browse",
        "card": card,
        "bought": bundle_bought(user=request.user, bundle=card.bundle),
    }
    return render(request, "dashboard/store/bundle.html", context)


# Buying ----------------------------------------------------------------------


def _sale_token(request: AuthedHttpRequest, key: str, *, rotate: bool) -> str:
    """The confirmation form's token; one that already made a sale is spent.

    A form still open elsewhere (Back, a second tab) keeps the spent token
    and replays that sale; a page rendered anew offers a fresh one.
    """
    token = intent_token(request, key, rotate=rotate)
    if find_sale_by_token(user=request.user, token=token) is not None:
        token = intent_token(request, key, rotate=True)
    return token


def _confirm_sale(
    request: AuthedHttpRequest, pay: Callable[[str, int | None], SaleResult]
) -> HttpResponse | str:
    """Run a confirmed sale with the form's token.

    Returns the redirect to the receipt (also for a replayed token), or the
    message to show on the confirmation page, which then offers a new token.
    """
    form = TokenForm(request.POST)
    if not form.is_valid():
        return "This confirmation form is incomplete; please confirm again."
    try:
        result = pay(form.cleaned_data["token"], form.shown_price_cents)
    except BillingError as failure:
        return failure.message
    if not result.approved:
        charge = result.sale.charge
        reason = charge.failure_reason if charge is not None else ""
        return (
            f"Payment declined: {reason} Nothing was charged and no licence "
            "was created."
        )
    return redirect("dashboard:store-receipt", result.sale.pk)


def _to_confirm(url: str) -> HttpResponse:
    """303: a POST to a retired buy URL becomes a GET of the confirmation page."""
    return HttpResponseRedirect(url, status=303)


@login_required
@require_http_methods(["GET", "POST"])
@never_cache  # Back refetches it, so it shows what the first submit bought
def store_theme_confirm(request: AuthedHttpRequest, theme_id: int) -> HttpResponse:
    """Confirm buying a theme. The form's token makes a resubmit a replay, not a buy."""
    theme = or_404(get_theme_for_viewer, user=request.user, theme_id=theme_id)
    error = ""
    if request.method == "POST":
        outcome = _confirm_sale(
            request,
            lambda token, price: purchase_theme(
                actor=request.user,
                theme=theme,
                idempotency_key=token,
                shown_price_cents=price,
            ),
        )
        if isinstance(outcome, HttpResponse):
            return outcome
        error = outcome
    offer = theme_offer(user=request.user, theme=theme)
    context = {
        "tab": "browse",
        "theme": theme,
        "offer": offer,
        "token": _sale_token(request, f"store-theme:{theme.pk}", rotate=bool(error)),
        # A refusal is shown once, as the page's own notice.
        "error": "" if offer.refusal and offer.refusal.message == error else error,
    }
    return render(request, "dashboard/store/theme_confirm.html", context)


@login_required
@require_http_methods(["GET", "POST"])
@never_cache  # Back refetches it, so it shows what the first submit bought
def store_bundle_confirm(request: AuthedHttpRequest, bundle_id: int) -> HttpResponse:
    """Confirm buying a bundle. The form's token makes a resubmit a replay."""
    error = ""
    if request.method == "POST":
        bundle = or_404(get_bundle, bundle_id=bundle_id).bundle
        outcome = _confirm_sale(
            request,
            lambda token, price: purchase_bundle(
                actor=request.user,
                bundle=bundle,
                idempotency_key=token,
                shown_price_cents=price,
            ),
        )
        if isinstance(outcome, HttpResponse):
            return outcome
        error = outcome
    offer = or_404(bundle_offer, user=request.user, bundle_id=bundle_id)
    key = f"store-bundle:{offer.card.bundle.pk}"
    context = {
        "tab": "browse",
        "offer": offer,
        "card": offer.card,
        "token": _sale_token(request, key, rotate=bool(error)),
        "error": "" if offer.refusal and offer.refusal.message == error else error,
    }
    return render(request, "dashboard/store/bundle_confirm.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def store_theme_buy(request: AuthedHttpRequest, theme_id: int) -> HttpResponse:
    """The old one-click URL: it only leads to the confirmation page."""
    return _to_confirm(reverse("dashboard:store-theme-confirm", args=[theme_id]))


@login_required
@require_http_methods(["GET", "POST"])
def store_bundle_buy(request: AuthedHttpRequest, bundle_id: int) -> HttpResponse:
    """The old one-click URL: it only leads to the confirmation page."""
    return _to_confirm(reverse("dashboard:store-bundle-confirm", args=[bundle_id]))


@login_required
@require_GET
def store_receipt(request: AuthedHttpRequest, sale_id: int) -> HttpResponse:
    """A sale's receipt, for its buyer (and staff who may read sales); 404 else."""
    sale = or_404(get_sale_for_viewer, user=request.user, sale_id=sale_id)
    context = {
        "tab": "library",
        "receipt": sale_receipt(sale=sale, viewer=request.user),
    }
    return render(request, "dashboard/store/receipt.html", context)


# Buyers ----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def store_library(request: AuthedHttpRequest) -> HttpResponse:
    """The user's licensed themes, and the form that applies one (or the default)."""
    if request.method == "POST":
        form = ApplyForm(request.POST)
        if form.is_valid():
            theme = None
            if form.theme_id is not None:
                theme = or_404(get_theme, theme_id=form.theme_id)
            try:
                apply_theme(actor=request.user, theme=theme)
            except BillingError as error:
                messages.error(request, error.message)
            else:
                messages.success(
                    request,
                    f"{theme.name} is applied."
                    if theme
                    else "Back to the default theme.",
                )
        return redirect(_safe_next(request) or reverse("dashboard:store-library"))
    context = {
        "tab": "library",
        "owned": list_owned_themes(user=request.user),
        "sales": list(list_sales(user=request.user)),
    }
    return render(request, "dashboard/store/library.html", context)


# Creators --------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def store_submit(request: AuthedHttpRequest) -> HttpResponse:
    form = ThemeForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            theme = submit_theme(
                actor=request.user, content=form.content(), images=form.uploads()
            )
        except InvalidTheme as error:
            form.add_service_errors(error.details or {})
        else:
            if theme.status == Theme.Status.IN_REVIEW:
                messages.success(
                    request, "Every check passed: your theme is in review."
                )
            else:
                messages.error(request, "Some checks failed: fix them and save again.")
            return redirect("dashboard:store-creator-theme", theme_id=theme.pk)
    return render(
        request, "dashboard/store/submit.html", {"tab": "submit", "form": form}
    )


@login_required
@require_GET
def store_creator(request: AuthedHttpRequest) -> HttpResponse:
    context = {"tab": "creator", "themes": list_creator_themes(user=request.user)}
    return render(request, "dashboard/store/creator.html", context)


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def store_creator_theme(request: AuthedHttpRequest, theme_id: int) -> HttpResponse:
    """The check report and the edit form; saving re-runs the checks."""
    theme = or_404(get_theme_for_creator, user=request.user, theme_id=theme_id)
    if request.method == "POST":
        form = ThemeForm.for_theme(theme, request.POST, request.FILES)
        if form.is_valid():
            try:
                theme = update_theme(
                    theme=theme,
                    actor=request.user,
                    content=form.content(),
                    add_images=form.uploads(),
                    remove_image_ids=form.removed_image_ids(),
                )
            except InvalidTheme as error:
                form.add_service_errors(error.details or {})
            else:
                if not request.htmx:
                    messages.success(request, "Saved.")
                    return redirect("dashboard:store-creator-theme", theme_id=theme.pk)
                form = ThemeForm.for_theme(theme)
    else:
        form = ThemeForm.for_theme(theme)
    page = "dashboard/store/creator_theme.html"
    context = {
        "tab": "creator",
        "theme": theme,
        "sections": _report_sections(theme),
        "form": form,
        "saved": request.method == "POST" and not form.errors,
    }
    return render_page_or_partial(request, page, "theme-report", context)


@login_required
@require_GET
def store_earnings(request: AuthedHttpRequest) -> HttpResponse:
    context = {"tab": "earnings", "overview": earnings_overview(creator=request.user)}
    return render(request, "dashboard/store/earnings.html", context)


@staff_power_required(VIEW_PAYOUTS)  # the 403 page; payouts_due checks too
@require_GET
def store_payouts(request: AuthedHttpRequest) -> HttpResponse:
    rows = payouts_due(viewer=request.user)
    context = {"tab": "payouts", "rows": rows, "today": timezone.now()}
    return render(request, "dashboard/store/payouts.html", context)


def _safe_next(request: HtmxHttpRequest) -> str | None:
    """The posted ``next`` only when it stays on this site (no open redirect)."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None
