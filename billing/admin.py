"""Staff admin: the catalogue, accounts, and a read-only view of the facts.

Meters, plans and packs are data that staff edit here, saved through the
catalogue services so each change is on record; none is deleted here (a
pack is taken off sale; meters and plans are referenced data). Everything else is a fact
(usage, charges, purchases, consents, grants once made, the audit trail) and
is read-only: staff change state only through admin actions and the grant
adjustment form, which call the services in ``billing.services`` so every
rule keeps its one home. Each power-bearing action shows only to staff with
its permission (``billing.permissions``), and its service checks again.
"""

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count, Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.models import User

from .errors import BillingError
from .models import (
    Account,
    Alert,
    ApiKey,
    AuditEntry,
    ChargeRecord,
    ClosedPeriod,
    GaugeLevel,
    Grant,
    GrantBurn,
    JobSlot,
    Meter,
    OverageConsent,
    Pack,
    PackAllowance,
    Plan,
    PlanAllowance,
    Purchase,
    UsageCounter,
    UsageEvent,
    UsageRollup,
    UsageSnapshot,
)
from .permissions import ADJUST_GRANT, BLOCK_ACCOUNT, REFUND_CHARGE
from .quotas.current import period_overages
from .quotas.rules import OverageFigures
from .refunds import refund_proposal
from .selectors import account_quotas, outstanding_balance_cents
from .services.accounts import (
    claim_company_account,
    save_account,
    set_account_block,
)
from .services.alerts import dismiss_alert
from .services.api_keys import create_api_key, revoke_api_key
from .services.catalogue import AllowanceLine, save_meter, save_pack, save_plan
from .services.job_slots import release_job_slot
from .services.packs import create_adjustment_grant, refund_charge, revoke_grant
from .units import (
    format_cents,
    format_quantity,
    format_quantity_input,
    parse_quantity,
)

# Helpers ------------------------------------------------------------------


def _money(cents: int | None, currency: str | None = None) -> str:
    """Cents as money, in the row's currency or else the configured one."""
    if cents is None:
        return "—"
    return format_cents(cents, currency or settings.BILLING_CURRENCY)


AMOUNT_HELP = (
    'With a unit: "50 GB", "500 MB", "120 min", "2 h", "5 slots"'
    " (GB = 10^9 bytes). A plain number counts bytes, seconds or slots."
)


def _clean_quantity(form: forms.Form, cleaned: dict[str, Any]) -> int | None:
    """Read the typed "amount" in the chosen meter's unit, or note the error."""
    raw, meter = cleaned.get("amount"), cleaned.get("meter")
    if raw is None:
        return None
    try:
        amount = parse_quantity(
            raw,
            meter.unit if meter else None,
            name=meter.name if meter else "",
        )
    except ValueError as error:
        form.add_error("amount", str(error))
        return None
    cleaned["amount"] = amount
    return amount


def _changelist_link(model: type[Model], label: str, **filters: object) -> str:
    url = reverse(f"admin:billing_{model._meta.model_name}_changelist")
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    return format_html('<a href="{}?{}">{}</a>', url, query, label)


def _change_link(obj: Model | None) -> str:
    if obj is None:
        return "—"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, obj)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        help_text="Kept on record with the change.",
        widget=forms.TextInput(attrs={"size": 60}),
    )


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


class OwnerForm(forms.Form):
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True),
        to_field_name="email",
        widget=forms.TextInput(attrs={"size": 40}),
        label="Owner's e-mail",
        help_text="An existing user; they become the company's owner.",
        error_messages={"invalid_choice": "No active user has that e-mail."},
    )


def _confirm_with_reason(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    title: str,
    warning: str,
    apply: Callable[[Any, Any], str | None],
    form_class: type[forms.Form] | None = None,
    field: str = "reason",
) -> HttpResponse | None:
    """Ask for a reason on an intermediate page, then apply to each object.

    ``apply(obj, reason)`` calls a service and returns a success line, or
    None when there was nothing to do; BillingErrors become error messages.
    """
    form = (form_class or ReasonForm)(
        request.POST if "confirm" in request.POST else None
    )
    if form.is_valid():
        done = 0
        for obj in queryset:
            try:
                note = apply(obj, form.cleaned_data[field])
            except BillingError as error:
                modeladmin.message_user(
                    request, f"{obj}: {error.message}", messages.ERROR
                )
                continue
            if note:
                done += 1
                modeladmin.message_user(request, note, messages.SUCCESS)
        if not done:
            modeladmin.message_user(request, "Nothing was changed.", messages.WARNING)
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


class ReadOnlyAdmin(admin.ModelAdmin):
    """Facts: viewable, never added, edited or deleted from the admin.

    Staff fix things through services (the actions below), so a change
    always goes through the rule that owns it.
    """

    # Cent fields the change page shows through a money column instead of
    # as a bare number: {"price_cents": "price"}.
    money_columns: dict[str, str] = {}

    def get_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        fields = super().get_fields(request, obj)
        # The money columns are read-only fields too: list each once, in the
        # place of its cent field.
        return list(dict.fromkeys(self.money_columns.get(f, f) for f in fields))

    def get_readonly_fields(
        self, request: HttpRequest, obj: Model | None = None
    ) -> tuple[str, ...]:
        readonly = super().get_readonly_fields(request, obj)
        return (*readonly, *self.money_columns.values())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        return False

    def has_service_permission(self, request: HttpRequest) -> bool:
        """Actions that call a service need the model's change permission."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


# Catalogue: meters, plans, packs -----------------------------------------


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
        form: forms.ModelForm,
        formsets: list[forms.BaseInlineFormSet] | None,
        add: bool = False,
    ) -> list[dict[str, Any]]:
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
        save_meter(meter=obj, staff_user=request.user)

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
        return f"{_money(obj.overage_price_cents)} per {obj.quantum_label}"


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
        cleaned = super().clean()
        amount = _clean_quantity(self, cleaned)
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
    def account_count(self, obj: Plan) -> int:
        return obj.n_accounts

    def save_with_lines(
        self, request: HttpRequest, obj: Plan, lines: list[AllowanceLine] | None
    ) -> None:
        save_plan(plan=obj, lines=lines, staff_user=request.user)

    def has_delete_permission(
        self, request: HttpRequest, obj: Plan | None = None
    ) -> bool:
        # Accounts are on plans and past periods were billed by them: a plan
        # stays, with every change to it on record.
        return False


@admin.register(PlanAllowance)
class PlanAllowanceAdmin(ReadOnlyAdmin):
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
        return _money(obj.price_cents)

    @admin.display(description="Adds")
    def allowance_summary(self, obj: Pack) -> str:
        return _allowance_summary(obj.allowances.all())

    @admin.display(description="Sold", ordering="n_sold")
    def sold(self, obj: Pack) -> int:
        return obj.n_sold

    def save_with_lines(
        self, request: HttpRequest, obj: Pack, lines: list[AllowanceLine] | None
    ) -> None:
        save_pack(pack=obj, lines=lines, staff_user=request.user)

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
        switched = 0
        for pack in queryset.filter(is_active=not on_sale):
            pack.is_active = on_sale
            save_pack(pack=pack, staff_user=request.user)
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
class PackAllowanceAdmin(ReadOnlyAdmin):
    """Lines are edited on their pack, where the change is recorded."""

    list_display = ("pack", "meter", "human_amount", "amount")
    list_filter = ("meter", "pack__category")
    list_select_related = ("pack", "meter")
    search_fields = ("pack__code", "pack__name")

    @admin.display(description="Adds")
    def human_amount(self, obj: PackAllowance) -> str:
        return format_quantity(obj.amount, obj.meter.unit)


# Accounts ----------------------------------------------------------------


class AccountForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = (
            "name",
            "kind",
            "plan",
            "user",
            "company",
            "external_id",
            "email",
        )

    def _post_clean(self) -> None:
        super()._post_clean()
        # ``kind`` is read-only on change, so stock validation skips the
        # owner-matches-kind constraint; check it rather than hit the DB.
        try:
            self.instance.validate_constraints()
        except forms.ValidationError:
            self.add_error(
                None,
                "A personal account belongs to a user and a company account to a"
                f" company; this one is {self.instance.get_kind_display().lower()}.",
            )


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    """Accounts come from sign-up, company creation or the API, never from here."""

    form = AccountForm

    list_display = (
        "name",
        "kind",
        "plan",
        "external_id",
        "owner",
        "hard_blocked",
        "created_at",
    )
    list_filter = ("kind", "plan", "hard_blocked")
    list_select_related = ("plan", "user", "company")
    search_fields = (
        "name",
        "external_id",
        "email",
        "user__email",
        "company__name",
    )
    date_hierarchy = "created_at"
    autocomplete_fields = ("user", "company")
    fieldsets = (
        (None, {"fields": ("name", "kind", "plan", "hard_blocked")}),
        ("Owner", {"fields": ("user", "company", "external_id", "email")}),
        (
            "Usage this period",
            {"fields": ("quota_table", "outstanding_balance", "related_links")},
        ),
        (None, {"fields": ("created_at",)}),
    )

    def get_readonly_fields(
        self, request: HttpRequest, obj: Account | None = None
    ) -> tuple[str, ...]:
        # The block is switched by the actions below, with a reason on record.
        readonly = (
            "hard_blocked",
            "quota_table",
            "outstanding_balance",
            "related_links",
        )
        return (*readonly, "kind", "created_at") if obj else readonly

    actions = ("claim_for_company", "block_selected", "unblock_selected")

    def save_model(
        self, request: HttpRequest, obj: Account, form: forms.ModelForm, change: bool
    ) -> None:
        save_account(account=obj, staff_user=request.user)

    def has_block_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(BLOCK_ACCOUNT)

    def _set_block(
        self, request: HttpRequest, queryset: QuerySet[Account], blocked: bool
    ) -> HttpResponse | None:
        def apply(account: Account, reason: str) -> str | None:
            if set_account_block(
                account=account, blocked=blocked, actor=request.user, reason=reason
            ):
                return f"{account}: {'blocked' if blocked else 'block lifted'}."
            self.message_user(
                request,
                f"{account}: {'already blocked' if blocked else 'not blocked'}.",
                messages.INFO,
            )
            return None

        return _confirm_with_reason(
            self,
            request,
            queryset,
            action="block_selected" if blocked else "unblock_selected",
            title="Block accounts" if blocked else "Lift the block",
            warning=(
                "Every metered request of these accounts is refused until the"
                " block is lifted."
                if blocked
                else "These accounts are metered against their limits again."
            ),
            apply=apply,
        )

    @admin.action(description="Block selected accounts…", permissions=["block"])
    def block_selected(
        self, request: HttpRequest, queryset: QuerySet[Account]
    ) -> HttpResponse | None:
        return self._set_block(request, queryset, True)

    @admin.action(description="Lift the block…", permissions=["block"])
    def unblock_selected(
        self, request: HttpRequest, queryset: QuerySet[Account]
    ) -> HttpResponse | None:
        return self._set_block(request, queryset, False)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: Account | None = None
    ) -> bool:
        return False  # the ledger and the facts point at it

    @admin.action(
        description="Claim for a company (assign its owner)", permissions=["change"]
    )
    def claim_for_company(
        self, request: HttpRequest, queryset: QuerySet[Account]
    ) -> HttpResponse | None:
        def claim(account: Account, owner: User) -> str:
            company = claim_company_account(
                account=account, owner=owner, staff_user=request.user
            )
            return f"{account}: now company {company.name}, owned by {owner.email}."

        return _confirm_with_reason(
            self,
            request,
            queryset,
            action="claim_for_company",
            title="Claim company accounts",
            warning=(
                "Each selected platform-created company account gets a company of "
                "the same name with this user as its owner."
            ),
            apply=claim,
            form_class=OwnerForm,
            field="owner",
        )

    @admin.display(description="Owner")
    def owner(self, obj: Account) -> str:
        if obj.user_id:
            return obj.user.email
        if obj.company_id:
            return obj.company.name
        return obj.email or "— (unclaimed)"

    @admin.display(description="Quotas")
    def quota_table(self, obj: Account) -> str:
        """Used / limit / state per meter, from the same selector as the API."""
        now = timezone.now()
        statuses = account_quotas(account=obj, at=now)
        figures = period_overages(
            account=obj, meters=[s.meter for s in statuses], at=now
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}%</td>"
            "<td><strong>{}</strong></td><td>{}</td></tr>",
            (
                (
                    status.meter.name,
                    format_quantity(status.used, status.meter.unit),
                    format_quantity(status.limit, status.meter.unit),
                    format_quantity(status.remaining, status.meter.unit),
                    status.percent,
                    status.state,
                    _overage_note(figures.get(status.meter.pk)),
                )
                for status in statuses
            ),
        )
        return format_html(
            '<table class="quota-table"><thead><tr><th>Meter</th><th>Used</th>'
            "<th>Limit</th><th>Remaining</th><th>Used %</th><th>State</th>"
            "<th>Overage</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="Outstanding balance")
    def outstanding_balance(self, obj: Account) -> str:
        return _money(outstanding_balance_cents(account=obj))

    @admin.display(description="Records")
    def related_links(self, obj: Account) -> str:
        links = [
            _changelist_link(Grant, "Grants", account__id__exact=obj.pk),
            _changelist_link(ChargeRecord, "Charges", account__id__exact=obj.pk),
            _changelist_link(Purchase, "Purchases", account__id__exact=obj.pk),
            _changelist_link(UsageEvent, "Usage events", account__id__exact=obj.pk),
            _changelist_link(UsageSnapshot, "Snapshots", account__id__exact=obj.pk),
            _changelist_link(Alert, "Alerts", account__id__exact=obj.pk),
            _changelist_link(OverageConsent, "Consents", account__id__exact=obj.pk),
        ]
        if obj.kind == Account.Kind.COMPANY:
            links.append(
                _changelist_link(JobSlot, "Job slots", account__id__exact=obj.pk)
            )
        add_grant = format_html(
            '<a href="{}?account={}">Add an adjustment grant</a>',
            reverse("admin:billing_grant_add"),
            obj.pk,
        )
        return format_html_join(" · ", "{}", ((link,) for link in [*links, add_grant]))


def _overage_note(figures: OverageFigures | None) -> str:
    """Billable and unbilled overage so far: the figures period close uses."""
    if figures is None:
        return "hard limit"
    parts = []
    if figures.cap_cents is not None:
        parts.append(
            f"{_money(figures.billable_cents)} billable of {_money(figures.cap_cents)}"
            " cap"
        )
    if figures.unbilled_cents:
        parts.append(f"{_money(figures.unbilled_cents)} unbilled")
    return "; ".join(parts) or "none"


# Ledger: charges ---------------------------------------------------------


@admin.register(ChargeRecord)
class ChargeRecordAdmin(ReadOnlyAdmin):
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
        return _money(obj.amount_cents, obj.currency)

    @admin.display(description="Refund of", ordering="refund_of")
    def refund_of_link(self, obj: ChargeRecord) -> str:
        return _change_link(obj.refund_of) if obj.refund_of_id else ""

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
                    _change_link(r),
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
                    staff_user=request.user,
                    amount_cents=form.amount_cents(),
                    customer_reason=form.cleaned_data["reason"],
                    staff_note=form.cleaned_data["staff_note"],
                )
            except BillingError as error:
                self.message_user(request, f"{charge}: {error.message}", messages.ERROR)
                return None
            if row.pk == charge.pk:
                note = f"{charge}: voided (it was never paid)."
            else:
                note = f"{charge}: refunded {_money(-row.amount_cents, row.currency)}."
            self.message_user(request, note, messages.SUCCESS)
            return None
        proposal = refund_proposal(charge=charge, at=timezone.now())
        context = {
            **self.admin_site.each_context(request),
            "title": "Refund a charge",
            "subtitle": None,
            "charge": charge,
            "proposal": proposal,
            "full_price": _money(proposal.full_cents, charge.currency),
            "pro_rata_price": _money(proposal.pro_rata_cents, charge.currency),
            "form": form,
            "opts": self.opts,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/billing/refund_charge.html", context)


# Capacity: grants and purchases ------------------------------------------


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
        cleaned = super().clean()
        _clean_quantity(self, cleaned)
        return cleaned

    def _post_clean(self) -> None:
        """Build no model instance: the service validates and saves the grant."""


class GrantStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[str, str]]:
        return [
            ("active", "Active"),
            ("scheduled", "Not started yet"),
            ("expired", "Expired"),
            ("revoked", "Revoked"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Grant]) -> QuerySet:
        now = timezone.now()
        match self.value():
            case "active":
                return queryset.active_at(now)
            case "scheduled":
                return queryset.filter(effective_at__gt=now, revoked_at__isnull=True)
            case "expired":
                return queryset.filter(expires_at__lte=now, revoked_at__isnull=True)
            case "revoked":
                return queryset.filter(revoked_at__isnull=False)
        return queryset


def grant_state(grant: Grant, at: datetime) -> str:
    if grant.revoked_at is not None:
        return "revoked"
    if grant.expires_at is not None and grant.expires_at <= at:
        return "expired"
    if grant.effective_at > at:
        return "not started"
    return "active"


@admin.register(Grant)
class GrantAdmin(ReadOnlyAdmin):
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
    fields = (
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
    readonly_fields = ("human_amount", "human_consumed", "state")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ADJUST_GRANT)

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ADJUST_GRANT)

    def get_fields(
        self, request: HttpRequest, obj: Grant | None = None
    ) -> tuple[str, ...]:
        return AdjustmentGrantForm.Meta.fields if obj is None else self.fields

    def get_readonly_fields(
        self, request: HttpRequest, obj: Grant | None = None
    ) -> tuple[str, ...]:
        return () if obj is None else self.readonly_fields

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

    def add_view(
        self,
        request: HttpRequest,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """Create through ``create_adjustment_grant``; show its refusals inline.

        GETs and invalid input go to the stock view. A valid form is handed
        to the service, so the stock view never saves a Grant itself.
        """
        if request.method != "POST" or not self.has_add_permission(request):
            return super().add_view(request, form_url, extra_context)
        form = self.get_form(request)(request.POST)
        if not form.is_valid():
            return super().add_view(request, form_url, extra_context)
        data = form.cleaned_data
        try:
            grant = create_adjustment_grant(
                account=data["account"],
                meter=data["meter"],
                amount=data["amount"],
                reason=data["reason"],
                staff_user=request.user,
                expires_at=data["expires_at"],
            )
        except BillingError as error:
            form.add_error(None, error.message)
            return self._render_add_form(request, form, form_url, extra_context)
        self.log_addition(request, grant, [{"added": {}}])
        return self.response_add(request, grant)

    def _render_add_form(
        self,
        request: HttpRequest,
        form: forms.ModelForm,
        form_url: str,
        extra_context: dict[str, Any] | None,
    ) -> HttpResponse:
        """The stock add page, for a form the service refused."""
        fieldsets = self.get_fieldsets(request)
        admin_form = helpers.AdminForm(form, list(fieldsets), {}, model_admin=self)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Add {self.opts.verbose_name}",
            "subtitle": None,
            "adminform": admin_form,
            "object_id": None,
            "original": None,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        return self.render_change_form(request, context, add=True, form_url=form_url)

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
        return grant_state(obj, timezone.now())

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
        def revoke(grant: Grant, reason: str) -> str | None:
            if revoke_grant(grant=grant, staff_user=request.user, reason=reason):
                return f"{grant}: revoked."
            self.message_user(request, f"{grant}: already revoked.", messages.INFO)
            return None

        return _confirm_with_reason(
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
class PurchaseAdmin(ReadOnlyAdmin):
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
        return _money(obj.price_cents)


# Usage facts -------------------------------------------------------------


class _QuantityColumns:
    """Human quantities for rows with a ``meter`` (select_related it)."""

    @staticmethod
    def _quantity(obj: Any, field: str) -> str:
        return format_quantity(getattr(obj, field), obj.meter.unit)


@admin.register(UsageEvent)
class UsageEventAdmin(_QuantityColumns, ReadOnlyAdmin):
    list_display = ("event_id", "account", "meter", "human_quantity", "timestamp")
    list_filter = ("meter", "timestamp")
    list_select_related = ("account", "meter")
    search_fields = ("=event_id", "account__name", "account__external_id")
    date_hierarchy = "timestamp"
    show_full_result_count = False  # the biggest table: skip the second COUNT

    @admin.display(description="Quantity", ordering="quantity")
    def human_quantity(self, obj: UsageEvent) -> str:
        return self._quantity(obj, "quantity")


@admin.register(UsageCounter)
class UsageCounterAdmin(_QuantityColumns, ReadOnlyAdmin):
    list_display = ("account", "meter", "period_start", "human_used", "human_covered")
    list_filter = ("meter", "period_start")
    list_select_related = ("account", "meter")
    search_fields = ("account__name", "account__external_id")
    date_hierarchy = "period_start"

    @admin.display(description="Used", ordering="used")
    def human_used(self, obj: UsageCounter) -> str:
        return self._quantity(obj, "used")

    @admin.display(description="Covered by top-ups", ordering="covered_by_grants")
    def human_covered(self, obj: UsageCounter) -> str:
        return self._quantity(obj, "covered_by_grants")


@admin.register(GaugeLevel)
class GaugeLevelAdmin(_QuantityColumns, ReadOnlyAdmin):
    list_display = ("account", "meter", "human_level", "updated_at")
    list_filter = ("meter",)
    list_select_related = ("account", "meter")
    search_fields = ("account__name", "account__external_id")

    @admin.display(description="Level", ordering="level")
    def human_level(self, obj: GaugeLevel) -> str:
        return self._quantity(obj, "level")


@admin.register(UsageSnapshot)
class UsageSnapshotAdmin(_QuantityColumns, ReadOnlyAdmin):
    list_display = ("day", "account", "meter", "human_used", "human_limit", "state")
    list_filter = ("meter", "state", "day")
    list_select_related = ("account", "meter")
    search_fields = ("account__name", "account__external_id")
    date_hierarchy = "day"

    @admin.display(description="Used", ordering="used")
    def human_used(self, obj: UsageSnapshot) -> str:
        return self._quantity(obj, "used")

    @admin.display(description="Limit", ordering="limit")
    def human_limit(self, obj: UsageSnapshot) -> str:
        return self._quantity(obj, "limit")


@admin.register(ClosedPeriod)
class ClosedPeriodAdmin(ReadOnlyAdmin):
    """Closed by ``close_billing_period``; reopening would allow double billing."""

    list_display = ("__str__", "period_start", "closed_at")
    date_hierarchy = "period_start"


@admin.register(GrantBurn)
class GrantBurnAdmin(ReadOnlyAdmin):
    """Top-up units burned per period: a cache of the event-time fold,
    rewritten by usage writes and ``rebuild_usage``."""

    list_display = ("grant", "account", "period_start", "units")
    list_filter = ("period_start",)
    list_select_related = ("grant__meter", "account")


@admin.register(UsageRollup)
class UsageRollupAdmin(ReadOnlyAdmin):
    """Derived from snapshots by ``take_usage_snapshots``; recomputed, never edited."""

    list_display = (
        "day",
        "meter",
        "accounts",
        "total_used",
        "over_without_consent",
        "unbilled_excess",
    )
    list_filter = ("meter",)
    date_hierarchy = "day"


# Alerts, consents, job slots ---------------------------------------------


class OpenFilter(admin.SimpleListFilter):
    """Live (not revoked / dismissed / released) or ended, by a nullable stamp."""

    title = "open"
    parameter_name = "open"
    stamp_field = ""

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in {"yes", "no"}:
            return queryset.filter(
                **{f"{self.stamp_field}__isnull": self.value() == "yes"}
            )
        return queryset


class DismissedFilter(OpenFilter):
    title = "dismissed"
    parameter_name = "dismissed"
    stamp_field = "dismissed_at"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[str, str]]:
        return [("yes", "Not dismissed"), ("no", "Dismissed")]


class ConsentLiveFilter(OpenFilter):
    title = "revoked"
    parameter_name = "live"
    stamp_field = "revoked_at"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[str, str]]:
        return [("yes", "Live"), ("no", "Revoked")]


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "account",
        "meter",
        "kind",
        "message",
        "period_start",
        "emailed_at",
        "dismissed_at",
    )
    list_filter = ("kind", "meter", DismissedFilter, "created_at")
    list_select_related = ("account", "meter")
    search_fields = ("account__name", "account__external_id", "message")
    date_hierarchy = "created_at"
    actions = ("dismiss_selected",)

    @admin.action(description="Dismiss selected alerts", permissions=["service"])
    def dismiss_selected(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        alerts = list(queryset.filter(dismissed_at__isnull=True))
        for alert in alerts:
            dismiss_alert(alert=alert)
        self.message_user(
            request, f"{len(alerts)} alert(s) dismissed.", messages.SUCCESS
        )


@admin.register(OverageConsent)
class OverageConsentAdmin(ReadOnlyAdmin):
    """Consents are the user's word: given and revoked only by the account's people."""

    list_display = (
        "given_at",
        "account",
        "meter",
        "cap",
        "period_start",
        "recurring",
        "given_by",
        "revoked_at",
    )
    list_filter = ("meter", "recurring", ConsentLiveFilter, "given_at")
    list_select_related = ("account", "meter", "given_by")
    search_fields = ("account__name", "account__external_id", "given_by__email")
    date_hierarchy = "given_at"
    money_columns = {"cap_cents": "cap"}

    @admin.display(description="Cap", ordering="cap_cents")
    def cap(self, obj: OverageConsent) -> str:
        return _money(obj.cap_cents)


@admin.register(JobSlot)
class JobSlotAdmin(ReadOnlyAdmin):
    list_display = (
        "job_ref",
        "account",
        "status",
        "allocated_at",
        "suspended_at",
        "released_at",
    )
    list_filter = ("status", "allocated_at")
    list_select_related = ("account",)
    search_fields = ("job_ref", "account__name", "account__external_id")
    date_hierarchy = "allocated_at"
    actions = ("release_selected",)

    @admin.action(description="Release selected job slots", permissions=["service"])
    def release_selected(
        self, request: HttpRequest, queryset: QuerySet[JobSlot]
    ) -> None:
        released = 0
        for slot in queryset.select_related("account"):
            try:
                released += release_job_slot(account=slot.account, job_ref=slot.job_ref)
            except BillingError as error:
                self.message_user(request, f"{slot}: {error.message}", messages.ERROR)
        self.message_user(
            request, f"{released} job slot(s) released.", messages.SUCCESS
        )


# Audit trail -------------------------------------------------------------


def _audit_value(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """Who changed money, limits or listings: written by the services only.

    Nobody adds, edits or deletes an entry here (nor anywhere: the database
    refuses); reading it needs ``billing.view_auditentry``.
    """

    list_display = (
        "at",
        "action",
        "actor",
        "target_link",
        "account",
        "short_reason",
    )
    list_filter = (
        "action",
        ("actor", admin.RelatedOnlyFieldListFilter),
        ("account", admin.RelatedOnlyFieldListFilter),
        "target_type",
    )
    list_select_related = ("actor", "account")
    search_fields = (
        "target_repr",
        "=target_id",
        "reason",
        "actor__email",
        "account__name",
        "account__external_id",
    )
    date_hierarchy = "at"
    fields = (
        "at",
        "action",
        "actor",
        "target_link",
        "target_type",
        "target_id",
        "account",
        "changes",
        "reason",
    )
    readonly_fields = fields

    @admin.display(description="Changed", ordering="target_repr")
    def target_link(self, obj: AuditEntry) -> str:
        try:
            opts = apps.get_model(obj.target_type)._meta
            url = reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change",
                args=[obj.target_id],
            )
        except (LookupError, NoReverseMatch):
            return obj.target_repr
        return format_html('<a href="{}">{}</a>', url, obj.target_repr)

    @admin.display(description="Reason")
    def short_reason(self, obj: AuditEntry) -> str:
        return obj.reason if len(obj.reason) <= 80 else obj.reason[:79] + "…"

    @admin.display(description="Before → after")
    def changes(self, obj: AuditEntry) -> str:
        before, after = obj.before or {}, obj.after or {}
        keys = list(dict.fromkeys([*before, *after]))
        return format_html(
            "<table><thead><tr><th>Field</th><th>Before</th><th>After</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (key, _audit_value(before.get(key)), _audit_value(after.get(key)))
                    for key in keys
                ),
            ),
        )


# API keys -------------------------------------------------------------------


class ApiKeyAdmin(admin.ModelAdmin):
    """Keys for the platform's services. The raw key is shown once, on creation.

    Only its sha256 is stored, so a lost key is revoked and replaced, never
    recovered. Keys are revoked, not deleted, to keep who-had-access on record.
    """

    list_display = ("name", "prefix", "created_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_at", "revoked_at")
    actions = ("revoke_selected",)

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None):
        return ("name",) if obj is None else ("name", *self.readonly_fields)

    def has_delete_permission(
        self, request: HttpRequest, obj: ApiKey | None = None
    ) -> bool:
        return False

    def save_form(self, request: HttpRequest, form: forms.ModelForm, change: bool):
        if change:
            return super().save_form(request, form, change)
        issued = create_api_key(name=form.cleaned_data["name"])
        request._issued_api_key = issued.raw_key  # shown once by response_add
        return issued.api_key

    def save_model(
        self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool
    ) -> None:
        if change:  # the service already saved a new key
            super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        if change:  # a new key has no relations to save
            super().save_related(request, form, formsets, change)

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created",
            "subtitle": None,
            "opts": self.opts,
            "api_key": obj,
            "raw_key": request._issued_api_key,
            "changelist_url": reverse("admin:billing_apikey_changelist"),
        }
        response = TemplateResponse(
            request, "admin/billing/apikey/created.html", context
        )
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]):
        revoked = sum(revoke_api_key(api_key=key) for key in queryset)
        self.message_user(request, f"{revoked} API key(s) revoked.", messages.SUCCESS)


admin.site.register(ApiKey, ApiKeyAdmin)

from . import (  # noqa: E402, F401 (registers them)
    admin_documents,
    admin_tax,
    admin_webhooks,
)
