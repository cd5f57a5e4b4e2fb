"""The charge ledger (read-only) and refunds through the refund service."""

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html_join

from ..errors import BillingError
from ..models import (
    ChargeRecord,
)
from ..permissions import REFUND_CHARGE
from ..quotas.rules import OverageFigures
from ..refunds import refund_proposal
from ..services.refunds import refund_charge
from .base import ReadOnlyAdmin, change_link, money, staff_user


class RefundForm(forms.Form):
    """One charge's refund: the amount and the two texts, kept apart."""

    amount = forms.DecimalField(
        label="Amount to refund",
        required=False,
        max_digits=14,
        decimal_places=2,
        help_text="Pre-filled with the full price; left empty, the full price.",
    )
    # Sent by the pro-rata button only, with the amount shown on it.
    pro_rata_cents = forms.IntegerField(required=False, widget=forms.HiddenInput)
    reason = forms.CharField(
        label="Reason shown to the customer",
        max_length=255,
        help_text="Shown with the refund in the customer's billing history.",
        widget=forms.TextInput(attrs={"size": 60}),
    )
    staff_note = forms.CharField(
        label="Staff note",
        required=False,
        help_text="Internal: shown in admin only, never to the customer.",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )

    def amount_cents(self) -> int | None:
        """The pro-rata button's amount, else the typed one, in cents."""
        if self.cleaned_data.get("pro_rata_cents") is not None:
            return self.cleaned_data["pro_rata_cents"]
        amount = self.cleaned_data.get("amount")
        return None if amount is None else int(amount * 100)


def overage_note(figures: OverageFigures | None) -> str:
    """Billable and unbilled overage so far: the figures period close uses."""
    if figures is None:
        return "hard limit"
    parts = []
    if figures.cap_cents is not None:
        parts.append(
            f"{money(figures.billable_cents)} billable of {money(figures.cap_cents)}"
            " cap"
        )
    if figures.unbilled_cents:
        parts.append(f"{money(figures.unbilled_cents)} unbilled")
    return "; ".join(parts) or "none"


@admin.register(ChargeRecord)
class ChargeRecordAdmin(ReadOnlyAdmin[ChargeRecord]):
    """The append-only ledger. Refunds add a negative row through the service."""

    list_display = (
        "created_at",
        "account",
        "kind",
        "amount",
        "status",
        "description",
        "refund_of_link",
        "paid_at",
    )
    list_filter = ("kind", "status", "created_at")
    list_select_related = ("account", "refund_of")
    search_fields = ("account__name", "idempotency_key", "description")
    date_hierarchy = "created_at"
    actions = ("refund_selected",)
    fields = (
        "account",
        "kind",
        "amount",
        "status",
        "description",
        "customer_reason",
        "staff_note",
        "purchase",
        "refund_of",
        "refunds_list",
        "meter",
        "period_start",
        "idempotency_key",
        "gateway_reference",
        "failure_reason",
        "created_by",
        "created_at",
        "paid_at",
    )
    readonly_fields = ("amount", "refunds_list")

    @admin.display(description="Amount", ordering="amount_cents")
    def amount(self, obj: ChargeRecord) -> str:
        return money(obj.amount_cents, obj.currency)

    @admin.display(description="Refund of", ordering="refund_of")
    def refund_of_link(self, obj: ChargeRecord) -> str:
        return change_link(obj.refund_of) if obj.refund_of_id else ""

    @admin.display(description="Refunded by")
    def refunds_list(self, obj: ChargeRecord) -> str:
        refunds = list(obj.refunds.all())
        if not refunds:
            return "—"
        return format_html_join(
            ", ",
            "{}{}",
            (
                (
                    change_link(r),
                    f" (staff note: {r.staff_note})" if r.staff_note else "",
                )
                for r in refunds
            ),
        )

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REFUND_CHARGE)

    @admin.action(description="Refund a charge…", permissions=["refund"])
    def refund_selected(
        self, request: HttpRequest, queryset: QuerySet[ChargeRecord]
    ) -> HttpResponse | None:
        """Ask for the amount and both texts for one charge, then call the service."""
        if queryset.count() != 1:
            self.message_user(
                request, "Select exactly one charge to refund.", messages.WARNING
            )
            return None
        charge = queryset.select_related("account").get()
        confirmed = "confirm" in request.POST
        form = RefundForm(
            request.POST if confirmed else None,
            initial={"amount": Decimal(charge.amount_cents).scaleb(-2)},
        )
        if confirmed and form.is_valid():
            try:
                row = refund_charge(
                    charge=charge,
                    actor=staff_user(request),
                    amount_cents=form.amount_cents(),
                    customer_reason=form.cleaned_data["reason"],
                    staff_note=form.cleaned_data["staff_note"],
                )
            except BillingError as error:
                self.message_user(request, f"{charge}: {error.message}", messages.ERROR)
                return None
            if row.pk == charge.pk:
                note = f"{charge}: voided (it was never paid)."
                self.log_change(request, charge, "Voided (it was never paid).")
            else:
                refunded = money(-row.amount_cents, row.currency)
                note = f"{charge}: refunded {refunded}."
                self.log_change(request, charge, f"Refunded {refunded}: #{row.pk}.")
            self.message_user(request, note, messages.SUCCESS)
            return None
        proposal = refund_proposal(charge=charge, at=timezone.now())
        context = {
            **self.admin_site.each_context(request),
            "title": "Refund a charge",
            "subtitle": None,
            "charge": charge,
            "proposal": proposal,
            "full_price": money(proposal.full_cents, charge.currency),
            "pro_rata_price": money(proposal.pro_rata_cents, charge.currency),
            "form": form,
            "opts": self.opts,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/billing/refund_charge.html", context)
