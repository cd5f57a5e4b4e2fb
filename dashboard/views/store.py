"""Theme store pages: browse, preview, buy, apply, submit, earnings, payouts.

Thin views: store selectors read, store services write, and their errors
become messages. Purchases are plain POST forms carrying an idempotency
token, so a double click or a retry makes one sale and one charge.
"""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.csp import CSP
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing.errors import BillingError, NotFound
from billing.permissions import VIEW_PAYOUTS
from store.checks import ACCESSIBILITY, PERFORMANCE
from store.errors import InvalidTheme
from store.models import Bundle, Theme, ThemeImage
from store.selectors import (
    bundle_bought,
    earnings_overview,
    get_bundle,
    get_published_stylesheet,
    get_theme_draft,
    get_theme_for_creator,
    get_theme_for_viewer,
    list_bundles_on_show,
    list_creator_themes,
    list_listed_themes,
    list_owned_themes,
    payouts_due,
    theme_access,
)
from store.services.sales import apply_theme, purchase_bundle, purchase_theme
from store.services.themes import build_stylesheet, submit_theme, update_theme

from ..forms import TokenForm, new_token
from ..http import HtmxHttpRequest, staff_power_required
from ..store_forms import ApplyForm, ThemeForm

# The charset is stated so the browser decodes the sheet as the checks read it.
CSS_TYPE = "text/css; charset=utf-8"


def _or_404(selector: Any, **kwargs: Any) -> Any:
    try:
        return selector(**kwargs)
    except NotFound as error:
        raise Http404(error.message) from error


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
def store_themes(request: HtmxHttpRequest) -> HttpResponse:
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
def store_theme(request: HtmxHttpRequest, theme_id: int) -> HttpResponse:
    theme = _or_404(get_theme_for_viewer, user=request.user, theme_id=theme_id)
    access = theme_access(user=request.user, theme=theme)
    context = {
        "tab": "browse",
        "theme": theme,
        "access": access,
        "images": list(theme.images.only("pk", "alt", "theme_id")),
        "token": new_token(),
        "draft": not theme.is_listed,
    }
    return render(request, "dashboard/store/theme.html", context)


@login_required
@require_GET
@xframe_options_sameorigin
@csp_override({**settings.SECURE_CSP, "frame-ancestors": [CSP.SELF]})
def store_theme_preview(request: HtmxHttpRequest, theme_id: int) -> HttpResponse:
    """A sample dashboard page with the theme applied (shown in an iframe)."""
    theme = _or_404(get_theme_for_viewer, user=request.user, theme_id=theme_id)
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
        theme = _or_404(get_theme_draft, user=request.user, theme_id=theme_id)
        response = HttpResponse(build_stylesheet(theme=theme), content_type=CSS_TYPE)
        response["Cache-Control"] = "private, no-store"
        return response
    theme = _or_404(get_published_stylesheet, theme_id=theme_id)
    response = HttpResponse(theme.published_stylesheet, content_type=CSS_TYPE)
    response["Cache-Control"] = "public, max-age=86400"
    return response


@login_required
@require_GET
def store_theme_image(
    request: HtmxHttpRequest, theme_id: int, image_id: int
) -> HttpResponse:
    theme = _or_404(get_theme_for_viewer, user=request.user, theme_id=theme_id)
    image = ThemeImage.objects.filter(theme=theme, pk=image_id).first()
    if image is None:
        raise Http404("No such image.")
    response = HttpResponse(bytes(image.data), content_type=image.content_type)
    response["Cache-Control"] = "private, max-age=86400"
    return response


@login_required
@require_POST
def store_theme_buy(request: HtmxHttpRequest, theme_id: int) -> HttpResponse:
    theme = _or_404(get_theme_for_viewer, user=request.user, theme_id=theme_id)
    form = TokenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The form expired: please try again.")
        return redirect("dashboard:store-theme", theme_id=theme.pk)
    try:
        result = purchase_theme(
            user=request.user, theme=theme, idempotency_key=form.cleaned_data["token"]
        )
    except BillingError as error:
        messages.error(request, error.message)
        return redirect("dashboard:store-theme", theme_id=theme.pk)
    if not result.approved:
        reason = result.sale.charge.failure_reason if result.sale.charge else ""
        messages.error(
            request,
            f"Payment declined: {reason} No licence was created; nothing was taken.",
        )
        return redirect("dashboard:store-theme", theme_id=theme.pk)
    messages.success(
        request, f"{theme.name} is yours. Apply it below or from My themes."
    )
    return redirect("dashboard:store-theme", theme_id=theme.pk)


@login_required
@require_GET
def store_bundle(request: HtmxHttpRequest, bundle_id: int) -> HttpResponse:
    card = _or_404(get_bundle, bundle_id=bundle_id)
    context = {
        "tab": "browse",
        "card": card,
        "bought": bundle_bought(user=request.user, bundle=card.bundle),
        "token": new_token(),
    }
    return render(request, "dashboard/store/bundle.html", context)


@login_required
@require_POST
def store_bundle_buy(request: HtmxHttpRequest, bundle_id: int) -> HttpResponse:
    bundle = Bundle.objects.filter(pk=bundle_id).first()
    if bundle is None:
        raise Http404("No such bundle.")
    form = TokenForm(request.POST)
    target = reverse("dashboard:store-bundle", args=[bundle.pk])
    if not form.is_valid():
        messages.error(request, "The form expired: please try again.")
        return redirect(target)
    try:
        result = purchase_bundle(
            user=request.user, bundle=bundle, idempotency_key=form.cleaned_data["token"]
        )
    except BillingError as error:
        messages.error(request, error.message)
        return redirect(target)
    if not result.approved:
        reason = result.sale.charge.failure_reason if result.sale.charge else ""
        messages.error(request, f"Payment declined: {reason} No licence was created.")
        return redirect(target)
    messages.success(request, f"{bundle.name} is yours: its themes are in My themes.")
    return redirect("dashboard:store-library")


# Buyers ----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def store_library(request: HtmxHttpRequest) -> HttpResponse:
    """The user's licensed themes, and the form that applies one (or the default)."""
    if request.method == "POST":
        form = ApplyForm(request.POST)
        if form.is_valid():
            theme = None
            if form.theme_id is not None:
                theme = Theme.objects.filter(pk=form.theme_id).first()
                if theme is None:
                    raise Http404("No such theme.")
            try:
                apply_theme(user=request.user, theme=theme)
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
    context = {"tab": "library", "owned": list_owned_themes(user=request.user)}
    return render(request, "dashboard/store/library.html", context)


# Creators --------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def store_submit(request: HtmxHttpRequest) -> HttpResponse:
    form = ThemeForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            theme = submit_theme(
                creator=request.user, content=form.content(), images=form.uploads()
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
def store_creator(request: HtmxHttpRequest) -> HttpResponse:
    context = {"tab": "creator", "themes": list_creator_themes(user=request.user)}
    return render(request, "dashboard/store/creator.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def store_creator_theme(request: HtmxHttpRequest, theme_id: int) -> HttpResponse:
    """The check report and the edit form; saving re-runs the checks."""
    theme = _or_404(get_theme_for_creator, user=request.user, theme_id=theme_id)
    if request.method == "POST":
        form = ThemeForm.for_theme(theme, request.POST, request.FILES)
        if form.is_valid():
            try:
                theme = update_theme(
                    theme=theme,
                    user=request.user,
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
    return render(request, f"{page}#theme-report" if request.htmx else page, context)


@login_required
@require_GET
def store_earnings(request: HtmxHttpRequest) -> HttpResponse:
    context = {"tab": "earnings", "overview": earnings_overview(creator=request.user)}
    return render(request, "dashboard/store/earnings.html", context)


@staff_power_required(VIEW_PAYOUTS)  # the 403 page; payouts_due checks too
@require_GET
def store_payouts(request: HtmxHttpRequest) -> HttpResponse:
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
