"""The revenue policy and its tiers, earnings lines and payouts."""

from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.forms.formsets import BaseFormSet
from django.http import HttpRequest
from django.utils import timezone

from billing.admin.base import staff_user

from ..models import (
    EarningLine,
    Payout,
    RevenuePolicy,
    RevenueTier,
)
from ..revenue import Tier, validate_tiers
from ..services.earnings import (
    delete_revenue_policy,
    record_payout,
    save_revenue_policy,
)
from .base import ReadOnlyAdmin, money


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

    def get_actions(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        # The bulk delete asks no per-policy question, so it could select a
        # policy in effect: delete one at a time, where each is checked.
        actions = super().get_actions(request, *args, **kwargs)
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
        save_revenue_policy(
            policy=form.instance, tiers=tiers, actor=staff_user(request)
        )

    def construct_change_message(
        self,
        request: HttpRequest,
        form: forms.Form,
        formsets: Iterable[BaseFormSet[Any]],
        add: bool = False,
    ) -> list[dict[str, dict[str, list[str]]]]:
        # The service saved the tiers, not the formset: the audit entry lists
        # them before and after.
        return super().construct_change_message(request, form, [], add)

    def delete_model(self, request: HttpRequest, obj: RevenuePolicy) -> None:
        delete_revenue_policy(policy=obj, actor=staff_user(request))

    def delete_queryset(
        self, request: HttpRequest, queryset: QuerySet[RevenuePolicy]
    ) -> None:
        for policy in queryset:
            delete_revenue_policy(policy=policy, actor=staff_user(request))

    @admin.display(description="Monthly cap")
    def cap(self, obj: RevenuePolicy) -> str:
        return "none" if obj.monthly_cap_cents is None else money(obj.monthly_cap_cents)

    @admin.display(description="Tiers")
    def tier_summary(self, obj: RevenuePolicy) -> str:
        return ", ".join(
            f"{t.creator_percent.normalize():f}% "
            + (f"up to {money(t.up_to_cents)}" if t.up_to_cents else "beyond")
            for t in obj.terms().tiers
        )


def _policy_editable(policy: RevenuePolicy | None) -> bool:
    """Only a policy that has not taken effect yet may change."""
    return policy is None or policy.effective_from > timezone.now()


@admin.register(EarningLine)
class EarningLineAdmin(ReadOnlyAdmin[EarningLine]):
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
        return money(obj.amount_cents)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Append-only: a recorded payout is money that left; correct it with
        # a new row, never by editing or deleting this one.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: Payout, form: Any, change: bool
    ) -> None:
        record_payout(payout=obj, actor=staff_user(request))
