"""Request helpers shared by the dashboard views.

``load_account`` is the one gate between a URL's account id and the pages:
it returns the account only when the signed-in user belongs to it, and a 404
otherwise, so an outsider cannot even learn that the account exists.
``staff_power_required`` guards the staff pages: each needs its own
permission (``billing.permissions``), and staff without it get a 403 saying
which one. ``render_page_or_partial`` answers a page's htmx swaps with its
named partial and everything else with the whole page.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.middleware import HtmxDetails

from accounts.models import User
from billing.errors import MissingPermission, NotFound
from billing.models import Account
from billing.permissions import check_staff_power
from billing.selectors import can_manage_account, list_accounts_for_user

from .forms import new_token

SESSION_ACCOUNT = "dashboard_account_id"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


class AuthedHttpRequest(HtmxHttpRequest):
    """A request behind ``login_required``: its user is a signed-in ``User``."""

    user: User


def wants_partial(request: HtmxHttpRequest) -> bool:
    """An htmx swap, which takes a named partial rather than the whole page.

    A history-restore request is htmx too, but it rebuilds the whole page
    (htmx sends it when the page is missing from its history cache).
    """
    return bool(request.htmx) and not request.htmx.history_restore_request


def render_page_or_partial(
    request: HtmxHttpRequest,
    template: str,
    partial: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
) -> HttpResponse:
    """The whole page, or its partial ``partial`` for an htmx swap.

    The answer depends on the HX-Request header: views using this carry
    ``vary_on_headers("HX-Request")`` so that no cache mixes the two.
    """
    if wants_partial(request):
        template = f"{template}#{partial}"
    return render(request, template, context, status=status)


def or_404[T](selector: Callable[..., T], **kwargs: Any) -> T:
    """Call a ``get_*`` selector; its ``NotFound`` becomes a 404."""
    try:
        return selector(**kwargs)
    except NotFound as error:
        raise Http404(error.message) from error


@dataclass(frozen=True, slots=True)
class AccountPage:
    account: Account
    accounts: list[Account]  # every account the user may switch to
    can_manage: bool  # owner/admin of a company, or the personal account's user

    @property
    def is_company(self) -> bool:
        return self.account.kind == Account.Kind.COMPANY

    def require_manager(self) -> None:
        """Members may look; only owners and admins change anything (403)."""
        if not self.can_manage:
            raise PermissionDenied(
                "Only the account's owners and admins can buy, renew, consent or pay."
            )


def user_accounts(user: User) -> list[Account]:
    return list(list_accounts_for_user(user=user).select_related("plan", "company"))


def load_account(request: AuthedHttpRequest, account_id: int) -> AccountPage:
    """The user's account ``account_id`` (404 if not theirs); remembered as current."""
    accounts = user_accounts(request.user)
    account = next((a for a in accounts if a.pk == account_id), None)
    if account is None:
        raise Http404("No such account.")
    if request.session.get(SESSION_ACCOUNT) != account.pk:
        request.session[SESSION_ACCOUNT] = account.pk
    return AccountPage(
        account=account,
        accounts=accounts,
        can_manage=can_manage_account(user=request.user, account=account),
    )


def current_account_id(request: HttpRequest, accounts: list[Account]) -> int | None:
    """The account chosen in the session if still the user's, else their own."""
    chosen = request.session.get(SESSION_ACCOUNT)
    if any(a.pk == chosen for a in accounts):
        return chosen
    personal = [a.pk for a in accounts if a.kind == Account.Kind.USER]
    return next(iter(personal or [a.pk for a in accounts]), None)


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Staff only: others get a 404 (the area is not advertised), anonymous
    visitors are sent to sign in."""

    @wraps(view)
    @login_required
    def wrapper(request: AuthedHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_staff:
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return wrapper


def staff_power_required(
    permission: str,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Staff holding ``permission`` only: other staff get a 403 naming it.

    Non-staff get a 404 and anonymous visitors sign in, as with
    ``staff_required``. This is the friendly refusal, before any work: the
    rule itself lives in the selectors and services the page calls, which
    check the same permission with ``check_staff_power`` again.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        @staff_required
        def wrapper(
            request: AuthedHttpRequest, *args: Any, **kwargs: Any
        ) -> HttpResponse:
            try:
                check_staff_power(actor=request.user, permission=permission)
            except MissingPermission as error:
                context = {"message": error.message, "permission": permission}
                return render(request, "dashboard/forbidden.html", context, status=403)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def intent_token(request: HtmxHttpRequest, key: str, *, rotate: bool = False) -> str:
    """The confirmation form's token for one purchase intent, kept in the session.

    Going Back to a confirmation page, even one the browser fetches again,
    shows the same token, so confirming again replays the first purchase
    instead of buying twice. "Buy it again" (or a decline) starts a new one.
    """
    tokens = request.session.get("purchase_tokens", {})
    if rotate or key not in tokens:
        tokens[key] = new_token()
        request.session["purchase_tokens"] = tokens
    return tokens[key]
