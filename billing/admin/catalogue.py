"""Meters, plans and packs: data staff edit, saved through the catalogue
services so each change is on record.
"""

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypedDict

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Model, Q, QuerySet
from django.forms.formsets import BaseFormSet
from django.http import HttpRequest

from ..models import (
    Meter,
    Pack,
    PackAllowance,
    Plan,
    PlanAllowance,
    Purchase,
)
from ..services.catalogue import AllowanceLine, save_meter, save_pack, save_plan
from ..units import (
    format_quantity,
    format_quantity_input,
)
from .base import AMOUNT_HELP, ReadOnlyAdmin, clean_quantity, money, staff_user

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _PlanCounts(TypedDict):
    n_accounts: int


class _PackCounts(TypedDict):
    n_sold: int


class AllowanceLinesAdmin(admin.ModelAdmin):
    """Saves an object and its inline allowance lines in one service call.

    ``save_related`` hands the form's object and the inline's lines to
    ``save_with_lines`` (a catalogue service, which records the change), so
    Django's own ``save_model`` and formset saves are skipped.
    """

    lines_model: type[Model]

    def save_with_lines(
        self, request: HttpRequest, obj: Any, lines: list[AllowanceLine] | None
    ) -> None:
        raise NotImplementedError

    def save_model(
        self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool
    ) -> None:
        """Deferred to ``save_related``, which saves the object with its lines."""

    def save_related(
        self,
        request: HttpRequest,
        form: forms.ModelForm,
        formsets: list[forms.BaseInlineFormSet],
        change: bool,
    ) -> None:
        lines = None  # the changelist's inline edits send no formsets
        for formset in formsets:
            if formset.model is self.lines_model:
                lines = [
                    AllowanceLine(meter=data["meter"], amount=data["amount"])
                    for data in (f.cleaned_data for f in formset.forms)
                    if data and not data.get("DELETE")
                ]
        self.save_with_lines(request, form.instance, lines)

    def construct_change_message(
        self,
        request: HttpRequest,
        form: forms.Form,
        formsets: Iterable[BaseFormSet[Any]],
        add: bool = False,
    ) -> list[dict[str, dict[str, list[str]]]]:
        # The service saved the lines, not the formsets: the audit entry
        # lists them before and after.
        return super().construct_change_message(request, form, [], add)


@admin.register(Meter)
class MeterAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "unit",
        "kind",
        "overage_price",
        "display_order",
    )
    list_editable = ("display_order",)
    list_filter = ("kind", "unit")
    search_fields = ("code", "name")
    prepopulated_fields = {"code": ("name",)}

    def save_model(
        self, request: HttpRequest, obj: Meter, form: forms.ModelForm, change: bool
    ) -> None:
        save_meter(meter=obj, actor=staff_user(request))

    def has_delete_permission(
        self, request: HttpRequest, obj: Meter | None = None
    ) -> bool:
        # Grants, usage and allowances point at meters: deleting one would
        # rewrite history with no record of it.
        return False

    @admin.display(description="Overage price", ordering="overage_price_cents")
    def overage_price(self, obj: Meter) -> str:
        if obj.is_hard_limit:
            return "hard limit"
        return f"{money(obj.overage_price_cents)} per {obj.quantum_label}"


class AllowanceForm(forms.ModelForm):
    """One allowance line, its amount typed and shown as "50 GB"."""

    amount = forms.CharField(
        max_length=40,
        help_text=AMOUNT_HELP,
        widget=forms.TextInput(attrs={"size": 14, "placeholder": "50 GB"}),
    )
    below_minimum = "An allowance cannot be negative."
    minimum = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        line = self.instance
        if line.pk is not None and line.meter_id is not None:
            self.initial["amount"] = format_quantity_input(line.amount, line.meter.unit)

    def clean(self) -> dict[str, Any]:
        """Base units from "50 GB"; too small is refused here, not by the DB."""
        super().clean()
        cleaned = self.cleaned_data
        amount = clean_quantity(self, cleaned)
        if amount is not None and amount < self.minimum:
            self.add_error("amount", self.below_minimum)
        return cleaned


class PackAllowanceForm(AllowanceForm):
    below_minimum = "An allowance must be more than 0: a pack line adds capacity."
    minimum = 1


class PlanAllowanceInline(admin.TabularInline):
    model = PlanAllowance
    form = AllowanceForm
    extra = 1
    verbose_name = "allowance"
    verbose_name_plural = "allowances"

    def get_queryset(self, request: HttpRequest) -> QuerySet[PlanAllowance]:
        return super().get_queryset(request).select_related("plan", "meter")


@admin.register(Plan)
class PlanAdmin(AllowanceLinesAdmin):
    inlines = (PlanAllowanceInline,)
    lines_model = PlanAllowance
    list_display = ("name", "code", "is_default", "allowance_summary", "account_count")
    search_fields = ("code", "name")
    prepopulated_fields = {"code": ("name",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Plan]:
        return (
            super()
            .get_queryset(request)
            .annotate(n_accounts=Count("accounts"))
            .prefetch_related("allowances__meter")
        )

    @admin.display(description="Allowances")
    def allowance_summary(self, obj: Plan) -> str:
        return _allowance_summary(obj.allowances.all())

    @admin.display(description="Accounts", ordering="n_accounts")
    def account_count(self, obj: "WithAnnotations[Plan, _PlanCounts]") -> int:
        return obj.n_accounts

    def save_with_lines(
        self, request: HttpRequest, obj: Plan, lines: list[AllowanceLine] | None
    ) -> None:
        save_plan(plan=obj, lines=lines, actor=staff_user(request))

    def has_delete_permission(
        self, request: HttpRequest, obj: Plan | None = None
    ) -> bool:
        # Accounts are on plans and past periods were billed by them: a plan
        # stays, with every change to it on record.
        return False


@admin.register(PlanAllowance)
class PlanAllowanceAdmin(ReadOnlyAdmin[PlanAllowance]):
    """Allowances are edited on their plan, where the change is recorded."""

    list_display = ("plan", "meter", "human_amount", "amount")
    list_filter = ("plan", "meter")
    list_select_related = ("plan", "meter")

    @admin.display(description="Allowance")
    def human_amount(self, obj: PlanAllowance) -> str:
        return format_quantity(obj.amount, obj.meter.unit)


def _allowance_summary(lines: Iterable[PlanAllowance | PackAllowance]) -> str:
    return ", ".join(
        f"{line.meter.name} {format_quantity(line.amount, line.meter.unit)}"
        for line in lines
    )


class PackAllowanceInline(admin.TabularInline):
    model = PackAllowance
    form = PackAllowanceForm
    extra = 1
    min_num = 1
    verbose_name = "allowance"
    verbose_name_plural = "allowances"

    def get_formset(
        self, request: HttpRequest, obj: Pack | None = None, **kwargs: Any
    ) -> type[forms.BaseInlineFormSet]:
        # A pack without a line would sell nothing: enforce min_num on save.
        kwargs.setdefault("validate_min", True)
        return super().get_formset(request, obj, **kwargs)

    def get_queryset(self, request: HttpRequest) -> QuerySet[PackAllowance]:
        return super().get_queryset(request).select_related("pack", "meter")


@admin.register(Pack)
class PackAdmin(AllowanceLinesAdmin):
    inlines = (PackAllowanceInline,)
    lines_model = PackAllowance
    list_display = (
        "code",
        "name",
        "category",
        "kind",
        "price",
        "term_days",
        "allowance_summary",
        "sold",
        "is_active",
    )
    list_display_links = ("code", "name")
    list_editable = ("is_active",)
    list_filter = ("is_active", "category", "kind")
    search_fields = ("code", "name", "description")
    prepopulated_fields = {"code": ("name",)}
    actions = ("activate", "deactivate")
    fieldsets = (
        (None, {"fields": ("code", "name", "description", "category", "kind")}),
        (
            "Price and term",
            {
                "fields": ("price_cents", "term_days", "is_active"),
                "description": (
                    "Price in cents (1200 = $12.00). Term: capacity packs 365 days,"
                    " slot packs 30."
                ),
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Pack]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_sold=Count(
                    "purchases", filter=Q(purchases__status=Purchase.Status.COMPLETED)
                )
            )
            .prefetch_related("allowances__meter")
        )

    @admin.display(description="Price", ordering="price_cents")
    def price(self, obj: Pack) -> str:
        return money(obj.price_cents)

    @admin.display(description="Adds")
    def allowance_summary(self, obj: Pack) -> str:
        return _allowance_summary(obj.allowances.all())

    @admin.display(description="Sold", ordering="n_sold")
    def sold(self, obj: "WithAnnotations[Pack, _PackCounts]") -> int:
        return obj.n_sold

    def save_with_lines(
        self, request: HttpRequest, obj: Pack, lines: list[AllowanceLine] | None
    ) -> None:
        save_pack(pack=obj, lines=lines, actor=staff_user(request))

    def has_delete_permission(
        self, request: HttpRequest, obj: Pack | None = None
    ) -> bool:
        # A pack is taken off sale (on record), never deleted: a deletion
        # would leave no trace of what was sold.
        return False

    def _put_on_sale(
        self, request: HttpRequest, queryset: QuerySet[Pack], on_sale: bool
    ) -> int:
        """Switch each pack through the service, so each switch is on record."""
        user = staff_user(request)
        switched = 0
        for pack in queryset.filter(is_active=not on_sale):
            pack.is_active = on_sale
            save_pack(pack=pack, actor=user)
            self.log_change(request, pack, "Put on sale." if on_sale else "Off sale.")
            switched += 1
        return switched

    @admin.action(description="Put selected packs on sale", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[Pack]) -> None:
        count = self._put_on_sale(request, queryset, True)
        self.message_user(request, f"{count} pack(s) on sale.", messages.SUCCESS)

    @admin.action(description="Take selected packs off sale", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Pack]) -> None:
        count = self._put_on_sale(request, queryset, False)
        self.message_user(
            request,
            f"{count} pack(s) off sale. Existing purchases keep their grants.",
            messages.SUCCESS,
        )


@admin.register(PackAllowance)
class PackAllowanceAdmin(ReadOnlyAdmin[PackAllowance]):
    """Lines are edited on their pack, where the change is recorded."""

    list_display = ("pack", "meter", "human_amount", "amount")
    list_filter = ("meter", "pack__category")
    list_select_related = ("pack", "meter")
    search_fields = ("pack__code", "pack__name")

    @admin.display(description="Adds")
    def human_amount(self, obj: PackAllowance) -> str:
        return format_quantity(obj.amount, obj.meter.unit)
