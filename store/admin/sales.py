"""Sales (refunded with a reason) and the licences they made."""

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from billing.admin.base import staff_user
from billing.permissions import REFUND_CHARGE

from ..models import (
    Licence,
    Sale,
)
from ..services.sales import refund_sale
from .base import ReadOnlyAdmin, confirm_with_reason, money


class RefundSaleForm(forms.Form):
    """The two texts of a refund: what the buyer reads, what only staff read."""

    reason = forms.CharField(
        label="Reason shown to the customer",
        max_length=255,
        help_text="The buyer sees this next to the refund, e.g. "
        '"Refunded at your request."',
        widget=forms.TextInput(attrs={"size": 60}),
    )
    staff_note = forms.CharField(
        label="Staff note",
        required=False,
        help_text="Internal: shown in admin only, never to the customer.",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


@admin.register(Sale)
class SaleAdmin(ReadOnlyAdmin[Sale]):
    list_display = ("created_at", "account", "kind", "item", "price", "status")
    list_filter = ("kind", "status")
    search_fields = ("account__name", "theme__name", "bundle__name")
    list_select_related = ("account", "theme", "bundle")
    actions = ("refund",)

    @admin.display(description="Price", ordering="price_cents")
    def price(self, obj: Sale) -> str:
        return money(obj.price_cents)

    @admin.action(
        description="Refund the selected sales (with a reason)",
        permissions=["refund"],
    )
    def refund(
        self, request: HttpRequest, queryset: QuerySet[Sale]
    ) -> HttpResponse | None:
        actor = staff_user(request)

        def refund(sale: Sale, data: dict[str, str]) -> str:
            refund_sale(
                sale=sale,
                actor=actor,
                customer_reason=data["reason"],
                staff_note=data["staff_note"],
            )
            return f"{sale}: refunded."

        return confirm_with_reason(
            self,
            request,
            queryset,
            action="refund",
            title="Refund sales",
            warning="The charge is refunded, the licences end and the creators' "
            "earnings lines are reversed.",
            apply=refund,
            form_class=RefundSaleForm,
            field=None,
        )

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REFUND_CHARGE)


@admin.register(Licence)
class LicenceAdmin(ReadOnlyAdmin[Licence]):
    list_display = ("theme", "account", "starts_at", "expires_at", "revoked_at")
    list_select_related = ("theme", "account")
    search_fields = ("theme__name", "account__name")
