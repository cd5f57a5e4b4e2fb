"""Keys for the platform's services. The raw key is shown once, on creation."""

from typing import Any
from weakref import WeakKeyDictionary

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from ..models import (
    ApiKey,
)
from ..services.api_keys import create_api_key, revoke_api_key

# The raw key a request has just issued, from ``save_form`` to the page
# ``response_add`` renders; held no longer than the request itself.
_issued_keys: WeakKeyDictionary[HttpRequest, str] = WeakKeyDictionary()


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

    def get_fields(
        self, request: HttpRequest, obj: ApiKey | None = None
    ) -> tuple[str, ...]:
        return ("name",) if obj is None else ("name", *self.readonly_fields)

    def has_delete_permission(
        self, request: HttpRequest, obj: ApiKey | None = None
    ) -> bool:
        return False

    def save_form(
        self, request: HttpRequest, form: forms.ModelForm, change: bool
    ) -> ApiKey:
        if change:
            return super().save_form(request, form, change)
        issued = create_api_key(name=form.cleaned_data["name"])
        _issued_keys[request] = issued.raw_key  # shown once by response_add
        return issued.api_key

    def save_model(
        self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool
    ) -> None:
        if change:  # the service already saved a new key
            super().save_model(request, obj, form, change)

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool
    ) -> None:
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
            "raw_key": _issued_keys.pop(request),
            "changelist_url": reverse("admin:billing_apikey_changelist"),
        }
        response = TemplateResponse(
            request, "admin/billing/apikey/created.html", context
        )
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = 0
        for key in queryset:
            if revoke_api_key(api_key=key):
                revoked += 1
                self.log_change(request, key, "Revoked.")
        self.message_user(request, f"{revoked} API key(s) revoked.", messages.SUCCESS)


admin.site.register(ApiKey, ApiKeyAdmin)
