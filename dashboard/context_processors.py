"""Context every page gets: the billing currency and which staff links to show."""

from functools import cached_property

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest

from billing.permissions import VIEW_ANALYTICS, VIEW_PAYOUTS, holds_staff_power


class StaffLinks:
    """Which staff pages the signed-in user may open, for the navigation.

    The same rules the pages and their selectors enforce
    (``holds_staff_power``; the admin's own ``has_permission``), decided here
    rather than in a template ``if``; hiding a link
    is a courtesy, not the check. Each answer is worked out on first use, so
    a page without those links costs no permission query.
    """

    def __init__(self, request: HttpRequest) -> None:
        self._request = request

    def _holds(self, permission: str) -> bool:
        user = getattr(self._request, "user", None)
        if user is None or not user.is_authenticated:
            return False
        return holds_staff_power(actor=user, permission=permission)

    @cached_property
    def admin(self) -> bool:
        """The Django admin's own rule (active staff), asked of the admin."""
        if getattr(self._request, "user", None) is None:
            return False
        return admin.site.has_permission(self._request)

    @cached_property
    def analytics(self) -> bool:
        return self._holds(VIEW_ANALYTICS)

    @cached_property
    def payouts(self) -> bool:
        return self._holds(VIEW_PAYOUTS)


def billing(request: HttpRequest) -> dict[str, object]:
    return {"currency": settings.BILLING_CURRENCY, "staff_links": StaffLinks(request)}
