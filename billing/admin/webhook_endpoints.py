"""Staff admin for outbound webhook endpoints (the tools on an endpoint's
page: ``webhook_tools.py``; events and deliveries: ``webhook_deliveries.py``).

Endpoints are registered, edited, enabled again and given new secrets
through ``billing.services.webhook_endpoints``, which checks the staff
permission again; the admin only hides what a user may not do. A signing
secret is shown once, on the page that answers its creation or rotation
(sent with ``Cache-Control: no-store``), and never on the change page.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from ..errors import InvalidRequest, UnsafeWebhookUrl
from ..models import EventType, WebhookDelivery, WebhookEndpoint
from ..services.webhook_endpoints import (
    IssuedSecret,
    clean_endpoint,
    create_endpoint,
    update_endpoint,
)
from .base import staff_user
from .webhook_common import EMPTY, when
from .webhook_tools import EndpointToolsAdmin


class EndpointForm(forms.ModelForm):
    """URL, description, event types and the on/off switch.

    The service's own check judges the URL and the types, so the form shows
    its refusal (an unsafe address, http to a host not listed) as the
    field's error rather than failing on save.
    """

    url = forms.CharField(
        label="URL",
        max_length=500,
        widget=forms.URLInput(attrs={"size": 60}),
        help_text=(
            "An https URL; plain http only for hosts listed in"
            " BILLING_WEBHOOK_PRIVATE_HOSTS (the private network). Link-local"
            " and cloud metadata addresses are refused."
        ),
    )
    event_types = forms.MultipleChoiceField(
        choices=EventType.choices,
        # The admin's own list style: each label as wide as its text.
        widget=forms.CheckboxSelectMultiple(attrs={"class": "radiolist"}),
        # The service says what is missing, in its words.
        required=False,
        help_text="The events this endpoint is sent.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "event_types", "is_active")
        labels = {"is_active": "Active"}

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if "url" not in cleaned:
            return cleaned
        try:
            cleaned["url"], cleaned["event_types"] = clean_endpoint(
                url=cleaned["url"], event_types=cleaned.get("event_types") or []
            )
        except UnsafeWebhookUrl as error:
            self.add_error("url", error.message)
        except InvalidRequest as error:
            # Past the URL, what the service refuses is the list of types.
            self.add_error("event_types", error.message)
        return cleaned


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(EndpointToolsAdmin):
    """Where the platform is told about changes, and the tools to fix one.

    Endpoints are switched off (Active) rather than deleted, so their
    deliveries stay on record.
    """

    form = EndpointForm
    list_display = (
        "url",
        "description",
        "event_type_count",
        "active",
        "disabled",
        "created_at",
    )
    list_display_links = ("url",)
    # Endpoints are few: no filter column, so the table keeps its width.
    search_fields = ("url", "description")
    readonly_fields = (
        "disabled",
        "previous_secret_signs_until",
        "delivery_counts",
        "created_at",
        "created_by",
    )

    def get_fieldsets(
        self, request: HttpRequest, obj: WebhookEndpoint | None = None
    ) -> list:
        main = (None, {"fields": ("url", "description", "event_types", "is_active")})
        if obj is None:
            return [main]
        state = (
            "State",
            {
                "fields": (
                    "disabled",
                    "delivery_counts",
                    "previous_secret_signs_until",
                    ("created_at", "created_by"),
                )
            },
        )
        return [main, state]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # A new endpoint is sent every type unless staff untick some.
        return {
            "event_types": list(EventType.values),
            **super().get_changeform_initial_data(request),
        }

    def has_delete_permission(
        self, request: HttpRequest, obj: WebhookEndpoint | None = None
    ) -> bool:
        return False

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # As Django's UserAdmin does for passwords: no filtering on secrets.
        if lookup.split("__", 1)[0] in {"secret", "previous_secret"}:
            return False
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description="Event types")
    def event_type_count(self, obj: WebhookEndpoint) -> str:
        total = len(EventType.values)
        count = len(obj.event_types)
        return f"all {total}" if count >= total else f"{count} of {total}"

    @admin.display(description="Active", boolean=True, ordering="is_active")
    def active(self, obj: WebhookEndpoint) -> bool:
        return obj.is_active

    @admin.display(description="Disabled", ordering="disabled_at")
    def disabled(self, obj: WebhookEndpoint) -> str:
        if obj.disabled_at is None:
            return EMPTY
        return format_html(
            '<img src="{}" alt="" width="14" height="14"> <strong>Disabled</strong>'
            " — {}",
            static("admin/img/icon-alert.svg"),
            obj.disabled_reason or "every attempt failed",
        )

    @admin.display(description="Previous secret signs until")
    def previous_secret_signs_until(self, obj: WebhookEndpoint) -> str:
        expires = obj.previous_secret_expires_at
        if not obj.previous_secret or expires is None or expires <= timezone.now():
            return EMPTY
        return when(expires)

    @admin.display(description="Deliveries")
    def delivery_counts(self, obj: WebhookEndpoint) -> str:
        counts = dict(
            obj.deliveries.values_list("status").annotate(n=Count("pk")).order_by()
        )
        changelist = reverse("admin:billing_webhookdelivery_changelist")
        return format_html_join(
            " · ",
            '<a href="{}?endpoint__id__exact={}&amp;status__exact={}">{} {}</a>',
            (
                (changelist, obj.pk, status.value, counts.get(status.value, 0), label)
                for status, label in (
                    (WebhookDelivery.Status.PENDING, "pending"),
                    (WebhookDelivery.Status.DELIVERED, "delivered"),
                    (WebhookDelivery.Status.FAILED, "failed"),
                    (WebhookDelivery.Status.HELD, "held"),
                )
            ),
        )

    # Saving goes through the services --------------------------------------

    def save_form(
        self, request: HttpRequest, form: forms.ModelForm, change: bool
    ) -> WebhookEndpoint:
        data = form.cleaned_data
        if change:
            return update_endpoint(
                endpoint=form.instance,
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                is_active=data["is_active"],
                actor=staff_user(request),
            )
        issued = create_endpoint(
            url=data["url"],
            event_types=data["event_types"],
            description=data["description"],
            is_active=data["is_active"],
            actor=staff_user(request),
        )
        return issued.endpoint

    def save_model(
        self,
        request: HttpRequest,
        obj: WebhookEndpoint,
        form: forms.ModelForm,
        change: bool,
    ) -> None:
        """The service in ``save_form`` has saved it."""

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        """An endpoint has no related rows to save here."""

    def response_add(
        self,
        request: HttpRequest,
        obj: WebhookEndpoint,
        post_url_continue: str | None = None,
    ) -> HttpResponse:
        # The endpoint create_endpoint returned carries the secret it issued.
        return self._show_secret_once(
            request, IssuedSecret(endpoint=obj, secret=obj.secret), rotated=False
        )

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: WebhookEndpoint | None = None,
    ) -> HttpResponse:
        if add:
            # Saving a new endpoint always leads to its secret, shown once.
            context["show_save_and_add_another"] = False
            context["show_save_and_continue"] = False
        elif obj is not None and self.has_change_permission(request, obj):
            context["endpoint_tools"] = self._tools(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)
