"""Staff admin for the store: review themes, compose bundles, set the revenue policy.

Reviews and refunds (admin actions), and the saves of bundles, revenue
policies and payouts, go through ``store.services``, so each rule keeps its
one home and every change of a price, a listing or a creator's terms leaves
an audit entry. Sales, licences and earnings lines are facts: read-only
here. Reviewing needs ``store.review_theme`` and refunding
``billing.refund_charge``: the actions show only to staff holding them, and
the services check again; the saves need Django's add/change/delete
permission for the model, checked by the services too.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from billing.errors import BillingError
from billing.permissions import REFUND_CHARGE, REVIEW_THEME
from billing.units import format_cents

from .models import (
    Bundle,
    EarningLine,
    Licence,
    Payout,
    RevenuePolicy,
    RevenueTier,
    Sale,
    Theme,
)
from .revenue import Tier, validate_tiers
from .selectors import list_sellable_themes
from .services.bundles import delete_bundle, save_bundle
from .services.earnings import (
    delete_revenue_policy,
    record_payout,
    save_revenue_policy,
)
from .services.sales import refund_sale
from .services.themes import approve_theme, reject_theme


def _money(cents: int | None) -> str:
    return "—" if cents is None else format_cents(cents)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        help_text="Shown to the creator with the decision.",
        widget=forms.TextInput(attrs={"size": 60}),
    )


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


def _with_reason(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    title: str,
    warning: str,
    apply: Any,
    form_class: type[forms.Form] = ReasonForm,
) -> HttpResponse | None:
    """Ask for a reason on an intermediate page, then call the service per object
    with the form's cleaned data."""
    form = form_class(request.POST if "confirm" in request.POST else None)
    if form.is_valid():
        for obj in queryset:
            try:
                apply(obj, form.cleaned_data)
            except BillingError as error:
                modeladmin.message_user(
                    request, f"{obj}: {error.message}", messages.ERROR
                )
            else:
                modeladmin.message_user(request, f"{obj}: done.", messages.SUCCESS)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "warning": warning,
        "form": form,
        "queryset": queryset,
        "action": action,
        "opts": modeladmin.opts,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": modeladmin.media,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/billing/confirm_with_reason.html", context)


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
        return "Free" if obj.is_free else _money(obj.price_cents)

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
                approve_theme(theme=theme, staff_user=request.user)
            except BillingError as error:
                self.message_user(request, f"{theme}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{theme} is listed.", messages.SUCCESS)

    @admin.action(
        description="Reject the selected themes (with a reason)",
        permissions=["review"],
    )
    def reject(
        self, request: HttpRequest, queryset: QuerySet[Theme]
    ) -> HttpResponse | None:
        return _with_reason(
            self,
            request,
            queryset,
            action="reject",
            title="Reject themes",
            warning="The creator sees the reason and can fix and resubmit.",
            apply=lambda theme, data: reject_theme(
                theme=theme, staff_user=request.user, reason=data["reason"]
            ),
        )


class BundleForm(forms.ModelForm):
    class Meta:
        model = Bundle
        fields = [
            "name",
            "description",
            "price_cents",
            "themes",
            "available_from",
            "available_until",
            "licence_days",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "themes" in self.fields:  # absent from a view-only form
            self.fields["themes"].queryset = list_sellable_themes()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("available_from"), data.get("available_until")
        if start and end and end <= start:
            raise forms.ValidationError("The sale must end after it starts.")
        return data


@admin.register(Bundle)
class BundleAdmin(admin.ModelAdmin):
    form = BundleForm
    list_display = (
        "name",
        "price",
        "available_from",
        "available_until",
        "licence_days",
    )
    filter_horizontal = ("themes",)

    def save_model(
        self, request: HttpRequest, obj: Bundle, form: forms.ModelForm, change: bool
    ) -> None:
        """Deferred to ``save_related``, which saves the bundle with its themes."""

    def save_related(
        self,
        request: HttpRequest,
        form: forms.ModelForm,
        formsets: list[forms.BaseInlineFormSet],
        change: bool,
    ) -> None:
        save_bundle(
            bundle=form.instance,
            themes=list(form.cleaned_data["themes"]),
            staff_user=request.user,
        )

    def delete_model(self, request: HttpRequest, obj: Bundle) -> None:
        delete_bundle(bundle=obj, staff_user=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Bundle]) -> None:
        for bundle in queryset:
            delete_bundle(bundle=bundle, staff_user=request.user)

    @admin.display(description="Price", ordering="price_cents")
    def price(self, obj: Bundle) -> str:
        return _money(obj.price_cents)


class TierFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        tiers = [
            Tier(
                up_to_cents=form.cleaned_data.get("up_to_cents"),
                creator_percent=form.cleaned_data["creator_percent"],
            )
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("creator_percent") is not None
        ]
        tiers.sort(key=lambda t: (t.up_to_cents is None, t.up_to_cents or 0))
        try:
            validate_tiers(tiers)
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None


class RevenueTierInline(admin.TabularInline):
    model = RevenueTier
    formset = TierFormSet
    extra = 1

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _policy_editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _policy_editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _policy_editable(obj) and super().has_delete_permission(request, obj)


@admin.register(RevenuePolicy)
class RevenuePolicyAdmin(admin.ModelAdmin):
    """Policies are history: once in effect one is read-only, so past months'
    earnings, caps and payouts can never be rewritten. New terms are a new
    policy with a later ``effective_from``."""

    list_display = ("name", "effective_from", "cap", "tier_summary")
    inlines = (RevenueTierInline,)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _policy_editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _policy_editable(obj) and super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # The bulk delete asks no per-policy question, so it could select a
        # policy in effect: delete one at a time, where each is checked.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(
        self,
        request: HttpRequest,
        obj: RevenuePolicy,
        form: forms.ModelForm,
        change: bool,
    ) -> None:
        """Deferred to ``save_related``, which saves the policy with its tiers."""

    def save_related(
        self,
        request: HttpRequest,
        form: forms.ModelForm,
        formsets: list[forms.BaseInlineFormSet],
        change: bool,
    ) -> None:
        tiers = None
        for formset in formsets:
            if formset.model is RevenueTier:
                tiers = [
                    Tier(
                        up_to_cents=data.get("up_to_cents"),
                        creator_percent=data["creator_percent"],
                    )
                    for data in (f.cleaned_data for f in formset.forms)
                    if data
                    and not data.get("DELETE")
                    and data.get("creator_percent") is not None
                ]
        save_revenue_policy(policy=form.instance, tiers=tiers, staff_user=request.user)

    def construct_change_message(
        self,
        request: HttpRequest,
        form: forms.ModelForm,
        formsets: list[forms.BaseInlineFormSet] | None,
        add: bool = False,
    ) -> list[dict[str, Any]]:
        # The service saved the tiers, not the formset: the audit entry lists
        # them before and after.
        return super().construct_change_message(request, form, [], add)

    def delete_model(self, request: HttpRequest, obj: RevenuePolicy) -> None:
        delete_revenue_policy(policy=obj, staff_user=request.user)

    def delete_queryset(
        self, request: HttpRequest, queryset: QuerySet[RevenuePolicy]
    ) -> None:
        for policy in queryset:
            delete_revenue_policy(policy=policy, staff_user=request.user)

    @admin.display(description="Monthly cap")
    def cap(self, obj: RevenuePolicy) -> str:
        return (
            "none" if obj.monthly_cap_cents is None else _money(obj.monthly_cap_cents)
        )

    @admin.display(description="Tiers")
    def tier_summary(self, obj: RevenuePolicy) -> str:
        return ", ".join(
            f"{t.creator_percent.normalize():f}% "
            + (f"up to {_money(t.up_to_cents)}" if t.up_to_cents else "beyond")
            for t in obj.terms().tiers
        )


def _policy_editable(policy: RevenuePolicy | None) -> bool:
    """Only a policy that has not taken effect yet may change."""
    return policy is None or policy.effective_from > timezone.now()


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Sale)
class SaleAdmin(ReadOnly):
    list_display = ("created_at", "account", "kind", "item", "price", "status")
    list_filter = ("kind", "status")
    search_fields = ("account__name", "theme__name", "bundle__name")
    list_select_related = ("account", "theme", "bundle")
    actions = ("refund",)

    @admin.display(description="Price", ordering="price_cents")
    def price(self, obj: Sale) -> str:
        return _money(obj.price_cents)

    @admin.action(
        description="Refund the selected sales (with a reason)",
        permissions=["refund"],
    )
    def refund(
        self, request: HttpRequest, queryset: QuerySet[Sale]
    ) -> HttpResponse | None:
        return _with_reason(
            self,
            request,
            queryset,
            action="refund",
            title="Refund sales",
            warning="The charge is refunded, the licences end and the creators' "
            "earnings lines are reversed.",
            apply=lambda sale, data: refund_sale(
                sale=sale,
                staff_user=request.user,
                customer_reason=data["reason"],
                staff_note=data["staff_note"],
            ),
            form_class=RefundSaleForm,
        )

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REFUND_CHARGE)


@admin.register(Licence)
class LicenceAdmin(ReadOnly):
    list_display = ("theme", "account", "starts_at", "expires_at", "revoked_at")
    list_select_related = ("theme", "account")
    search_fields = ("theme__name", "account__name")


@admin.register(EarningLine)
class EarningLineAdmin(ReadOnly):
    list_display = (
        "created_at",
        "creator",
        "theme",
        "kind",
        "tier",
        "creator_percent",
        "gross_cents",
        "creator_cents",
        "platform_cents",
        "held_cents",
    )
    list_filter = ("kind", "month")
    list_select_related = ("creator", "theme")
    search_fields = ("creator__email", "theme__name")


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin):
    """Record a payout after paying; the payouts-due page subtracts it."""

    list_display = ("paid_at", "creator", "amount", "reference")
    fields = ("creator", "amount_cents", "reference", "paid_at")

    @admin.display(description="Amount", ordering="amount_cents")
    def amount(self, obj: Payout) -> str:
        return _money(obj.amount_cents)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Append-only: a recorded payout is money that left; correct it with
        # a new row, never by editing or deleting this one.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: Payout, form: Any, change: bool
    ) -> None:
        record_payout(payout=obj, staff_user=request.user)
