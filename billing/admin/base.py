"""Helpers shared by the admin modules: money and links, confirm-with-reason
pages, the read-only base class.
"""

from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import User

from ..errors import BillingError
from ..units import (
    format_cents,
    parse_quantity,
)

# A page's fields, a tuple standing for one line: what ``get_fields`` returns.
FieldLines = tuple[str | list[str] | tuple[str, ...], ...]


def staff_user(request: HttpRequest) -> User:
    """The signed-in user behind an admin page, for the services' ``actor``.

    ``admin_site.admin_view`` lets only active staff in, so this refuses
    nobody who reached a page; it is what makes the type a ``User``.
    """
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def money(cents: int | None, currency: str | None = None) -> str:
    """Cents as money, in the row's currency or else the configured one."""
    if cents is None:
        return "—"
    return format_cents(cents, currency or settings.BILLING_CURRENCY)


AMOUNT_HELP = (
    'With a unit: "50 GB", "500 MB", "120 min", "2 h", "5 slots"'
    " (GB = 10^9 bytes). A plain number counts bytes, seconds or slots."
)


def clean_quantity(form: forms.BaseForm, cleaned: dict[str, Any]) -> int | None:
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


def changelist_link(model: type[Model], label: str, **filters: object) -> str:
    url = reverse(f"admin:billing_{model._meta.model_name}_changelist")
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    return format_html('<a href="{}?{}">{}</a>', url, query, label)


def change_link(obj: Model | None) -> str:
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


def confirm_with_reason(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    title: str,
    warning: str,
    apply: Callable[[Any, Any], str | None],
    form_class: type[forms.Form] | None = None,
    field: str | None = "reason",
) -> HttpResponse | None:
    """Ask for a reason on an intermediate page, then apply to each object.

    ``apply(obj, reason)`` (with ``field=None``: the whole cleaned form)
    calls a service and returns a success line, or None when there was
    nothing to do; BillingErrors become error messages. Each success line
    also goes on the object's admin history.
    """
    form = (form_class or ReasonForm)(
        request.POST if "confirm" in request.POST else None
    )
    if form.is_valid():
        done = 0
        for obj in queryset:
            try:
                given = form.cleaned_data if field is None else form.cleaned_data[field]
                note = apply(obj, given)
            except BillingError as error:
                modeladmin.message_user(
                    request, f"{obj}: {error.message}", messages.ERROR
                )
                continue
            if note:
                done += 1
                modeladmin.log_change(request, obj, note)
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


class ReadOnlyAdmin[M: Model](admin.ModelAdmin):
    """Facts: viewable, never added, edited or deleted from the admin.

    Staff fix things through services (the actions below), so a change
    always goes through the rule that owns it.
    """

    # Cent fields the change page shows through a money column instead of
    # as a bare number: {"price_cents": "price"}.
    money_columns: dict[str, str] = {}

    def get_fields(self, request: HttpRequest, obj: M | None = None) -> FieldLines:
        fields = super().get_fields(request, obj)
        # The money columns are read-only fields too: list each once, in the
        # place of its cent field.
        shown = (
            self.money_columns.get(f, f) if isinstance(f, str) else f for f in fields
        )
        return tuple(dict.fromkeys(shown))

    def get_readonly_fields(
        self, request: HttpRequest, obj: M | None = None
    ) -> tuple[str, ...]:
        readonly = super().get_readonly_fields(request, obj)
        return (*readonly, *self.money_columns.values())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: M | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: M | None = None) -> bool:
        return False

    def has_service_permission(self, request: HttpRequest) -> bool:
        """Actions that call a service need the model's change permission."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


class ReadOnlyInline(admin.TabularInline):
    """Rows shown on their parent's page, never added, edited or deleted there."""

    extra = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(
        self, request: HttpRequest, obj: Model | None = None
    ) -> list[str]:
        return flatten(self.fields or ())

    # django-stubs types this as BaseModelAdmin's, without the parent ``obj``
    # an inline is given (its own stub ignores the same mismatch).
    def has_add_permission(  # type: ignore[override]
        self, request: HttpRequest, obj: Model | None
    ) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        return False
