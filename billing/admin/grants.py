"""Grants (read-only once made; staff add adjustments and revoke) and purchases."""

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IS_POPUP_VAR
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from ..errors import BillingError
from ..models import (
    Grant,
    Meter,
    Purchase,
)
from ..models.packs import GrantQuerySet, GrantState
from ..permissions import ADJUST_GRANT
from ..services.grants import create_adjustment_grant, revoke_grant
from ..units import (
    format_quantity,
)
from .base import (
    AMOUNT_HELP,
    ReadOnlyAdmin,
    clean_quantity,
    confirm_with_reason,
    money,
    staff_user,
)


class AdjustmentGrantForm(forms.ModelForm):
    """Staff capacity by hand; the service checks the rules and writes it."""

    amount = forms.CharField(help_text=AMOUNT_HELP)
    reason = forms.CharField(
        max_length=200,
        help_text="Why: kept with the grant (goodwill, correction, ticket #).",
    )

    class Meta:
        model = Grant
        fields = ("account", "meter", "amount", "expires_at", "reason")
        help_texts = {"expires_at": "Leave empty for a grant that never expires."}

    def clean(self) -> dict[str, Any]:
        """Turn "50 GB" into base units; the service judges the amount itself."""
        super().clean()
        clean_quantity(self, self.cleaned_data)
        return self.cleaned_data

    def _post_clean(self) -> None:
        """Build no model instance: the service validates and saves the grant."""


class GrantStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[str, str]]:
        return [(state.value, state.label) for state in GrantState]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Grant]
    ) -> QuerySet[Grant]:
        if self.value() is None:
            return queryset
        # The changelist's queryset comes from Grant.objects.
        return cast(GrantQuerySet, queryset).in_state(str(self.value()), timezone.now())


# The change page of a grant made: read-only, with its state.
GRANT_FIELDS = (
    "account",
    "meter",
    "human_amount",
    "human_consumed",
    "state",
    "source",
    "purchase",
    "reason",
    "effective_at",
    "expires_at",
    "revoked_at",
    "expiry_processed_at",
    "created_by",
    "created_at",
)
GRANT_READONLY = ("human_amount", "human_consumed", "state")


@admin.register(Grant)
class GrantAdmin(ReadOnlyAdmin[Grant]):
    """Grants are read-only once made; staff add adjustments and revoke."""

    list_display = (
        "account",
        "meter",
        "human_amount",
        "human_consumed",
        "source",
        "state",
        "effective_at",
        "expires_at",
        "purchase_link",
        "reason",
    )
    list_filter = ("meter", "source", GrantStateFilter, "expires_at")
    list_select_related = ("account", "meter")
    search_fields = ("account__name", "account__external_id", "reason")
    date_hierarchy = "created_at"
    autocomplete_fields = ("account",)
    actions = ("revoke_selected",)
    fields = GRANT_FIELDS
    readonly_fields = GRANT_READONLY

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ADJUST_GRANT)

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ADJUST_GRANT)

    def get_fields(
        self, request: HttpRequest, obj: Grant | None = None
    ) -> tuple[str, ...]:
        return AdjustmentGrantForm.Meta.fields if obj is None else GRANT_FIELDS

    def get_readonly_fields(
        self, request: HttpRequest, obj: Grant | None = None
    ) -> tuple[str, ...]:
        return () if obj is None else GRANT_READONLY

    def get_form(
        self,
        request: HttpRequest,
        obj: Grant | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[forms.ModelForm]:
        if obj is None:
            kwargs["form"] = AdjustmentGrantForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_urls(self) -> list[URLPattern]:
        # The add page is this admin's own: the service writes the grant.
        add = path(
            "add/",
            self.admin_site.admin_view(self.add_adjustment_view),
            name="billing_grant_add",
        )
        return [add, *(u for u in super().get_urls() if u.name != "billing_grant_add")]

    def add_adjustment_view(self, request: HttpRequest) -> HttpResponse:
        """The add page: a valid form goes to ``create_adjustment_grant``, and
        what the service refuses shows on the form, as typed."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form_class = self.get_form(request)
        if request.method != "POST":
            form = form_class(initial=self.get_changeform_initial_data(request))
            return self._add_page(request, form)
        form = form_class(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                grant = create_adjustment_grant(
                    account=data["account"],
                    meter=data["meter"],
                    amount=data["amount"],
                    reason=data["reason"],
                    actor=staff_user(request),
                    expires_at=data["expires_at"],
                )
            except BillingError as error:
                form.add_error(None, error.message)
            else:
                self.log_addition(request, grant, [{"added": {}}])
                return self.response_add(request, grant)
        return self._add_page(request, form)

    def _add_page(self, request: HttpRequest, form: forms.ModelForm) -> HttpResponse:
        """The stock add page, around this form."""
        fieldsets = [(None, {"fields": list(AdjustmentGrantForm.Meta.fields)})]
        admin_form = helpers.AdminForm(form, fieldsets, {}, model_admin=self)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Add {self.opts.verbose_name}",
            "subtitle": None,
            "adminform": admin_form,
            "object_id": None,
            "original": None,
            "is_popup": IS_POPUP_VAR in request.POST or IS_POPUP_VAR in request.GET,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
        }
        return self.render_change_form(request, context, add=True)

    def save_model(
        self, request: HttpRequest, obj: Grant, form: forms.ModelForm, change: bool
    ) -> None:
        raise AssertionError("Grants are created by create_adjustment_grant only.")

    @admin.display(description="Amount", ordering="amount")
    def human_amount(self, obj: Grant) -> str:
        return format_quantity(obj.amount, obj.meter.unit)

    @admin.display(description="Consumed", ordering="consumed")
    def human_consumed(self, obj: Grant) -> str:
        if obj.meter.kind != Meter.Kind.COUNTER:
            return "—"
        return format_quantity(obj.consumed, obj.meter.unit)

    @admin.display(description="State")
    def state(self, obj: Grant) -> str:
        return obj.state_at(timezone.now()).label.lower()

    @admin.display(description="Purchase", ordering="purchase")
    def purchase_link(self, obj: Grant) -> str:
        if not obj.purchase_id:
            return "—"
        url = reverse("admin:billing_purchase_change", args=[obj.purchase_id])
        return format_html('<a href="{}">#{}</a>', url, obj.purchase_id)

    @admin.action(description="Revoke selected grants", permissions=["revoke"])
    def revoke_selected(
        self, request: HttpRequest, queryset: QuerySet[Grant]
    ) -> HttpResponse | None:
        user = staff_user(request)

        def revoke(grant: Grant, reason: str) -> str | None:
            if revoke_grant(grant=grant, actor=user, reason=reason):
                return f"{grant}: revoked."
            self.message_user(request, f"{grant}: already revoked.", messages.INFO)
            return None

        return confirm_with_reason(
            self,
            request,
            queryset.select_related("account", "meter"),
            action="revoke_selected",
            title="Revoke grants",
            warning=(
                "The grants stop counting now. Job slots beyond the new limit are"
                " suspended. Nothing is refunded: refund the charge for that."
            ),
            apply=revoke,
        )


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin[Purchase]):
    list_display = (
        "created_at",
        "account",
        "pack",
        "kind",
        "status",
        "price",
        "starts_at",
        "expires_at",
        "bought_by",
    )
    list_filter = ("status", "kind", "pack__category", "pack", "created_at")
    list_select_related = ("account", "pack", "bought_by")
    search_fields = ("account__name", "account__external_id", "idempotency_key")
    date_hierarchy = "created_at"
    money_columns = {"price_cents": "price"}

    @admin.display(description="Price", ordering="price_cents")
    def price(self, obj: Purchase) -> str:
        return money(obj.price_cents)
