"""Theme review: the check report, the preview, approve and reject."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from billing.admin.base import staff_user
from billing.errors import BillingError
from billing.permissions import REVIEW_THEME

from ..models import (
    Theme,
)
from ..services.themes import approve_theme, reject_theme
from .base import ReasonForm, confirm_with_reason, money


@admin.register(Theme)
class ThemeAdmin(admin.ModelAdmin):
    list_display = ("name", "creator", "status", "price", "checks", "updated_at")
    list_filter = ("status",)
    search_fields = ("name", "creator__email")
    actions = ("approve", "reject")
    readonly_fields = (
        "creator",
        "name",
        "description",
        "price",
        "status",
        "tokens",
        "report",
        "preview",
        "css",
        "review_note",
        "reviewed_by",
        "reviewed_at",
        "published_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REVIEW_THEME)

    @admin.display(description="Price", ordering="price_cents")
    def price(self, obj: Theme) -> str:
        return "Free" if obj.is_free else money(obj.price_cents)

    @admin.display(description="Checks", boolean=True)
    def checks(self, obj: Theme) -> bool:
        return obj.checks_passed

    @admin.display(description="Check report")
    def report(self, obj: Theme) -> str:
        return format_html(
            "<table><tr><th>Check</th><th>Result</th><th>Measured</th>"
            "<th>Threshold</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        c["title"],
                        "pass" if c["passed"] else "FAIL",
                        c["measured"],
                        c["threshold"],
                    )
                    for c in obj.check_report
                ),
            ),
        )

    @admin.display(description="Live preview")
    def preview(self, obj: Theme) -> str:
        url = reverse("dashboard:store-theme-preview", args=[obj.pk])
        return format_html(
            '<a href="{}?draft=1" target="_blank">Open the preview</a>', url
        )

    @admin.action(
        description="Approve and list the selected themes", permissions=["review"]
    )
    def approve(self, request: HttpRequest, queryset: QuerySet[Theme]) -> None:
        for theme in queryset:
            try:
                approve_theme(theme=theme, actor=staff_user(request))
            except BillingError as error:
                self.message_user(request, f"{theme}: {error.message}", messages.ERROR)
            else:
                self.log_change(request, theme, "Approved and listed.")
                self.message_user(request, f"{theme} is listed.", messages.SUCCESS)

    @admin.action(
        description="Reject the selected themes (with a reason)",
        permissions=["review"],
    )
    def reject(
        self, request: HttpRequest, queryset: QuerySet[Theme]
    ) -> HttpResponse | None:
        actor = staff_user(request)

        def reject(theme: Theme, reason: str) -> str:
            reject_theme(theme=theme, actor=actor, reason=reason)
            return f"{theme}: rejected."

        return confirm_with_reason(
            self,
            request,
            queryset,
            action="reject",
            title="Reject themes",
            warning="The creator sees the reason and can fix and resubmit.",
            apply=reject,
            form_class=ReasonForm,
        )
