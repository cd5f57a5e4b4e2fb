"""Billing accounts: owner, plan, block, quotas at a glance."""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.models import User

from ..models import (
    Account,
    Alert,
    ChargeRecord,
    Grant,
    JobSlot,
    OverageConsent,
    Purchase,
    UsageEvent,
    UsageSnapshot,
)
from ..permissions import BLOCK_ACCOUNT
from ..quotas.current import period_overages
from ..selectors import account_quotas, outstanding_balance_cents
from ..services.accounts import (
    claim_company_account,
    save_account,
    set_account_block,
)
from ..units import (
    format_quantity,
)
from .base import changelist_link, confirm_with_reason, money, staff_user
from .ledger import overage_note


class OwnerForm(forms.Form):
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True),
        to_field_name="email",
        widget=forms.TextInput(attrs={"size": 40}),
        label="Owner's e-mail",
        help_text="An existing user; they become the company's owner.",
        error_messages={"invalid_choice": "No active user has that e-mail."},
    )


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

    def validate_constraints(self) -> None:
        super().validate_constraints()
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
        save_account(account=obj, actor=staff_user(request))

    def has_block_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(BLOCK_ACCOUNT)

    def _set_block(
        self, request: HttpRequest, queryset: QuerySet[Account], blocked: bool
    ) -> HttpResponse | None:
        actor = staff_user(request)

        def apply(account: Account, reason: str) -> str | None:
            if set_account_block(
                account=account, blocked=blocked, actor=actor, reason=reason
            ):
                return f"{account}: {'blocked' if blocked else 'block lifted'}."
            self.message_user(
                request,
                f"{account}: {'already blocked' if blocked else 'not blocked'}.",
                messages.INFO,
            )
            return None

        return confirm_with_reason(
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
        user = staff_user(request)

        def claim(account: Account, owner: User) -> str:
            company = claim_company_account(account=account, owner=owner, actor=user)
            return f"{account}: now company {company.name}, owned by {owner.email}."

        return confirm_with_reason(
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
        # Null ids read as None without a query; set ones were selected.
        if obj.user is not None:
            return obj.user.email
        if obj.company is not None:
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
                    overage_note(figures.get(status.meter.pk)),
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
        return money(outstanding_balance_cents(account=obj))

    @admin.display(description="Records")
    def related_links(self, obj: Account) -> str:
        links = [
            changelist_link(Grant, "Grants", account__id__exact=obj.pk),
            changelist_link(ChargeRecord, "Charges", account__id__exact=obj.pk),
            changelist_link(Purchase, "Purchases", account__id__exact=obj.pk),
            changelist_link(UsageEvent, "Usage events", account__id__exact=obj.pk),
            changelist_link(UsageSnapshot, "Snapshots", account__id__exact=obj.pk),
            changelist_link(Alert, "Alerts", account__id__exact=obj.pk),
            changelist_link(OverageConsent, "Consents", account__id__exact=obj.pk),
        ]
        if obj.kind == Account.Kind.COMPANY:
            links.append(
                changelist_link(JobSlot, "Job slots", account__id__exact=obj.pk)
            )
        add_grant = format_html(
            '<a href="{}?account={}">Add an adjustment grant</a>',
            reverse("admin:billing_grant_add"),
            obj.pk,
        )
        return format_html_join(" · ", "{}", ((link,) for link in [*links, add_grant]))
