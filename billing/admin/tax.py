"""Staff admin for tax rates and billing details.

Both are data staff keep, saved through their services: tax rates on the
audit trail (a rate an invoice was issued at is history and read-only),
billing details with the VAT id's format checked and staff edits on record.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html_join

from ..models import BillingDetails, TaxRate
from ..services.documents import CHANGE_BILLING_DETAILS, save_billing_details
from ..services.tax_rates import (
    delete_tax_rate,
    save_tax_rate,
    tax_rate_locked,
    tax_rate_refusal,
)
from ..tax import normalise_vat_id
from .base import staff_user


class TaxRateForm(forms.ModelForm):
    class Meta:
        model = TaxRate
        fields = ("country", "name", "rate_percent", "valid_from")
        help_texts = {
            "rate_percent": "In percent: 23 for 23%.",
            "valid_from": (
                "The first day (UTC) it applies. A rate invoices were issued at"
                " cannot change: add a new rate from a later day."
            ),
        }

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        country, valid_from = cleaned.get("country"), cleaned.get("valid_from")
        if country and valid_from:
            refusal = tax_rate_refusal(
                country=country, valid_from=valid_from, exclude_pk=self.instance.pk
            )
            if refusal:
                self.add_error("valid_from", refusal)
        return cleaned


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    """Rates per country, saved through ``billing.services.tax_rates`` (on
    record); one that invoices were issued at is read-only."""

    form = TaxRateForm
    list_display = ("country", "name", "rate", "valid_from")
    list_filter = ("country",)
    search_fields = ("country", "name")
    date_hierarchy = "valid_from"
    readonly_fields = ("in_use",)
    # No bulk delete: it asks nothing per rate. Rates are deleted one at a
    # time, where each is checked.
    actions = None

    def get_fields(
        self, request: HttpRequest, obj: TaxRate | None = None
    ) -> tuple[str, ...]:
        fields = ("country", "name", "rate_percent", "valid_from")
        return (*fields, "in_use") if obj else fields

    @admin.display(description="Rate", ordering="rate_percent")
    def rate(self, obj: TaxRate) -> str:
        return f"{obj.rate_percent}%"

    @admin.display(description="Invoices issued at this rate")
    def in_use(self, obj: TaxRate) -> str:
        if tax_rate_locked(tax_rate=obj):
            return "Yes: it is history now, and read-only."
        return "None yet: it can still change."

    def has_change_permission(
        self, request: HttpRequest, obj: TaxRate | None = None
    ) -> bool:
        editable = obj is None or not tax_rate_locked(tax_rate=obj)
        return editable and super().has_change_permission(request, obj)

    def has_delete_permission(
        self, request: HttpRequest, obj: TaxRate | None = None
    ) -> bool:
        editable = obj is None or not tax_rate_locked(tax_rate=obj)
        return editable and super().has_delete_permission(request, obj)

    def save_model(
        self, request: HttpRequest, obj: TaxRate, form: forms.ModelForm, change: bool
    ) -> None:
        save_tax_rate(tax_rate=obj, actor=staff_user(request))

    def delete_model(self, request: HttpRequest, obj: TaxRate) -> None:
        delete_tax_rate(tax_rate=obj, actor=staff_user(request))


class BillingDetailsForm(forms.ModelForm):
    class Meta:
        model = BillingDetails
        fields = ("account", "legal_name", "address", "country", "vat_id")

    def clean(self) -> dict[str, Any]:
        """The VAT id's format, as the service checks it, shown on the field."""
        super().clean()
        cleaned = self.cleaned_data
        try:
            cleaned["vat_id"] = normalise_vat_id(
                cleaned.get("vat_id", ""), country=str(cleaned.get("country") or "")
            )
        except ValueError as error:
            self.add_error("vat_id", str(error))
        return cleaned


@admin.register(BillingDetails)
class BillingDetailsAdmin(admin.ModelAdmin):
    """Who an account's documents are addressed to; saved through
    ``save_billing_details``. Issued documents keep the details they had."""

    form = BillingDetailsForm
    list_display = ("legal_name", "account", "country", "vat_id", "updated_at")
    list_select_related = ("account",)
    list_filter = ("country",)
    search_fields = ("legal_name", "vat_id", "account__name", "account__external_id")
    autocomplete_fields = ("account",)

    def get_readonly_fields(
        self, request: HttpRequest, obj: BillingDetails | None = None
    ) -> tuple[str, ...]:
        return ("account", "updated_at", "documents") if obj else ()

    def get_fields(
        self, request: HttpRequest, obj: BillingDetails | None = None
    ) -> tuple[str, ...]:
        fields = ("account", "legal_name", "address", "country", "vat_id")
        return (*fields, "updated_at", "documents") if obj else fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Adding is saving through the service, which needs the change power.
        return super().has_add_permission(request) and request.user.has_perm(
            CHANGE_BILLING_DETAILS
        )

    def has_delete_permission(
        self, request: HttpRequest, obj: BillingDetails | None = None
    ) -> bool:
        return False  # cleared by editing; documents keep their own copy

    def save_model(
        self,
        request: HttpRequest,
        obj: BillingDetails,
        form: forms.ModelForm,
        change: bool,
    ) -> None:
        saved = save_billing_details(
            account=obj.account,
            actor=staff_user(request),
            legal_name=obj.legal_name,
            address=obj.address,
            country=str(obj.country or ""),
            vat_id=obj.vat_id,
            staff=True,
        )
        obj.pk, obj.updated_at = saved.pk, saved.updated_at

    @admin.display(description="Documents")
    def documents(self, obj: BillingDetails) -> str:
        links = [
            (reverse(f"admin:billing_{model}_changelist"), obj.account_id, label)
            for model, label in (
                ("invoice", "Invoices"),
                ("creditnote", "Credit notes"),
                ("statement", "Statements"),
            )
        ]
        return format_html_join(
            " · ", '<a href="{}?account__id__exact={}">{}</a>', links
        )
