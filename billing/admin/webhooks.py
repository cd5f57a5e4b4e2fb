"""Staff admin for outbound webhooks: endpoints, events and deliveries.

Endpoints are registered, edited, enabled again and given new secrets
through ``billing.services.webhook_endpoints``, which checks the staff
permission again; the admin only hides what a user may not do. A signing
secret is shown once, on the page that answers its creation or rotation
(sent with ``Cache-Control: no-store``), and never on the change page.
Events and deliveries are facts: read-only here, except that staff can send
deliveries again.
"""

import json
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Model
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from ..errors import BillingError, InvalidRequest, UnsafeWebhookUrl
from ..models import (
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
)
from ..services.webhook_endpoints import (
    ROTATION_OVERLAP,
    IssuedSecret,
    clean_endpoint,
    create_endpoint,
    enable_endpoint,
    replay_events,
    resend_undelivered,
    rotate_secret,
    update_endpoint,
)

TEMPLATES = "admin/billing/webhookendpoint"
DOCS = "docs/webhooks.md"
EMPTY = "-"  # the admin's own empty value


def _admin_url(obj: Model, view: str = "change") -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[obj.pk])


def _link(obj: Model | None, label: object = None) -> str:
    if obj is None:
        return EMPTY
    return format_html('<a href="{}">{}</a>', _admin_url(obj), label or obj)


def _when(value: object) -> str:
    """A value as the changelist shows it ("-" for none), also on pages
    where the admin would print a method's None or raw datetime as is."""
    return display_for_value(value, EMPTY)


def _to_the_second(value: datetime | None) -> str:
    if value is None:
        return EMPTY
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S}"


def _next_retry(delivery: WebhookDelivery) -> str:
    """When the next attempt is due, to the second; only a pending delivery
    has one."""
    if delivery.status != WebhookDelivery.Status.PENDING:
        return EMPTY
    return _to_the_second(delivery.next_attempt_at)


# How long after saving the page that shows a new secret may open.
SECRET_PAGE_WINDOW = timedelta(minutes=5)


def _secret_key(endpoint: WebhookEndpoint) -> str:
    return f"webhook-secret:{endpoint.pk}"


def _count(n: int, noun: str, plural: str = "") -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def _pretty_json(value: object) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return format_html("<pre>{}</pre>", text)


# Endpoints ------------------------------------------------------------------


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
        cleaned = super().clean()
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


class ReplayForm(forms.Form):
    since = forms.DateTimeField(
        label="Events recorded since",
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["since"].help_text = (
            f"Time in {timezone.get_current_timezone_name()}. Events of the"
            " endpoint's types recorded since then that it has not had yet are"
            " sent to it; those it already has keep their delivery."
        )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
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
        return _when(expires)

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
                staff_user=request.user,
            )
        issued = create_endpoint(
            url=data["url"],
            event_types=data["event_types"],
            description=data["description"],
            is_active=data["is_active"],
            staff_user=request.user,
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

    # The tools on the change page ------------------------------------------

    def _tools(self, endpoint: WebhookEndpoint) -> list[tuple[str, str]]:
        tools = [("rotate", "Rotate secret")]
        if endpoint.disabled_at is not None:
            tools.append(("enable", "Enable again and resend what it missed"))
        tools += [
            ("resend", "Resend undelivered (held or failed)"),
            ("replay", "Replay events since…"),
        ]
        return [(_admin_url(endpoint, name), label) for name, label in tools]

    def get_urls(self) -> list:
        def tool(name: str, view) -> Any:
            return path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(view),
                name=f"billing_webhookendpoint_{name}",
            )

        return [
            tool("rotate", self.rotate_view),
            tool("enable", self.enable_view),
            tool("resend", self.resend_view),
            tool("replay", self.replay_view),
            tool("secret", self.secret_view),
            *super().get_urls(),
        ]

    def _endpoint(self, request: HttpRequest, object_id: str) -> WebhookEndpoint:
        endpoint = self.get_object(request, unquote(object_id))
        if endpoint is None:
            raise Http404("No such webhook endpoint.")
        if not self.has_view_permission(request, endpoint):
            raise PermissionDenied
        return endpoint

    def _back(self, endpoint: WebhookEndpoint) -> HttpResponseRedirect:
        return HttpResponseRedirect(_admin_url(endpoint))

    def _refused(
        self, request: HttpRequest, endpoint: WebhookEndpoint, error: BillingError
    ) -> HttpResponseRedirect:
        self.message_user(request, error.message, messages.ERROR)
        return self._back(endpoint)

    def _confirm_page(
        self,
        request: HttpRequest,
        endpoint: WebhookEndpoint,
        *,
        title: str,
        lines: list[str],
        button: str,
        form: forms.Form | None = None,
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "opts": self.opts,
            "endpoint": endpoint,
            "lines": lines,
            "button": button,
            "form": form,
            "change_url": _admin_url(endpoint),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            f"{TEMPLATES}/confirm.html",
            context,
            status=400 if form is not None and form.is_bound else 200,
        )

    def _show_secret_once(
        self, request: HttpRequest, issued: IssuedSecret, *, rotated: bool
    ) -> HttpResponseRedirect:
        """Let the next page show the endpoint's secret once, and redirect to
        it, so reloading neither resubmits the form nor shows it again. The
        session holds only that permission (for a few minutes), never the
        secret, which the page reads from the endpoint."""
        request.session[_secret_key(issued.endpoint)] = {
            "rotated": rotated,
            "until": (timezone.now() + SECRET_PAGE_WINDOW).isoformat(),
        }
        return HttpResponseRedirect(
            reverse("admin:billing_webhookendpoint_secret", args=[issued.endpoint.pk])
        )

    def secret_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        endpoint = self._endpoint(request, object_id)
        shown = request.session.pop(_secret_key(endpoint), None)
        if shown is None or datetime.fromisoformat(shown["until"]) < timezone.now():
            self.message_user(
                request,
                "The signing secret was shown once and cannot be shown again;"
                " rotate it for a new one.",
                messages.WARNING,
            )
            return self._back(endpoint)
        issued = IssuedSecret(endpoint=endpoint, secret=endpoint.secret)
        return self._secret_page(request, issued, rotated=shown["rotated"])

    def _secret_page(
        self, request: HttpRequest, issued: IssuedSecret, *, rotated: bool
    ) -> TemplateResponse:
        endpoint = issued.endpoint
        context = {
            **self.admin_site.each_context(request),
            "title": "New signing secret" if rotated else "Webhook endpoint created",
            "subtitle": None,
            "opts": self.opts,
            "endpoint": endpoint,
            "secret": issued.secret,
            "rotated": rotated,
            "overlap_hours": int(ROTATION_OVERLAP / timedelta(hours=1)),
            "docs": DOCS,
            "change_url": _admin_url(endpoint),
            "changelist_url": reverse("admin:billing_webhookendpoint_changelist"),
        }
        request.current_app = self.admin_site.name
        response = TemplateResponse(request, f"{TEMPLATES}/secret.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def _undelivered_count(self, endpoint: WebhookEndpoint) -> int:
        return endpoint.deliveries.filter(
            status__in=[WebhookDelivery.Status.HELD, WebhookDelivery.Status.FAILED]
        ).count()

    def rotate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        endpoint = self._endpoint(request, object_id)
        if request.method != "POST":
            hours = int(ROTATION_OVERLAP / timedelta(hours=1))
            return self._confirm_page(
                request,
                endpoint,
                title="Rotate the signing secret",
                lines=[
                    "A new secret signs every request from now on. The current"
                    f" one keeps signing alongside it for {hours} hours, so the"
                    " receiver can switch without losing a delivery.",
                    "The new secret is shown once, on the next page.",
                ],
                button="Rotate secret",
            )
        try:
            issued = rotate_secret(endpoint=endpoint, staff_user=request.user)
        except BillingError as error:
            return self._refused(request, endpoint, error)
        self.log_change(request, endpoint, "Rotated the signing secret.")
        return self._show_secret_once(request, issued, rotated=True)

    def enable_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        endpoint = self._endpoint(request, object_id)
        if endpoint.disabled_at is None:
            self.message_user(request, "This endpoint is not disabled.", messages.INFO)
            return self._back(endpoint)
        if request.method != "POST":
            waiting = self._undelivered_count(endpoint)
            return self._confirm_page(
                request,
                endpoint,
                title="Enable the endpoint again",
                lines=[
                    f"Disabled: {endpoint.disabled_reason}",
                    "It is sent new events again, and its held or failed"
                    f" deliveries ({waiting}) are sent again from the first"
                    " attempt of a new retry window.",
                ],
                button="Enable and resend",
            )
        try:
            count = enable_endpoint(endpoint=endpoint, staff_user=request.user)
        except BillingError as error:
            return self._refused(request, endpoint, error)
        self.log_change(
            request,
            endpoint,
            f"Enabled again; resent {_count(count, 'delivery', 'deliveries')}.",
        )
        self.message_user(
            request,
            f"{endpoint} is enabled again;"
            f" {_count(count, 'delivery', 'deliveries')} sent again.",
            messages.SUCCESS,
        )
        return self._back(endpoint)

    def resend_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        endpoint = self._endpoint(request, object_id)
        if request.method != "POST":
            lines = [
                "Held or failed deliveries of this endpoint:"
                f" {self._undelivered_count(endpoint)}. Each is sent again from"
                " the first attempt of a new retry window."
            ]
            if endpoint.disabled_at is not None or not endpoint.is_active:
                lines.append(
                    "The endpoint is disabled or switched off: the deliveries"
                    " stay held until it is enabled again."
                )
            return self._confirm_page(
                request,
                endpoint,
                title="Resend undelivered events",
                lines=lines,
                button="Resend",
            )
        try:
            count = resend_undelivered(endpoint=endpoint, staff_user=request.user)
        except BillingError as error:
            return self._refused(request, endpoint, error)
        self.log_change(
            request,
            endpoint,
            f"Resent {_count(count, 'delivery', 'deliveries')} (held or failed).",
        )
        held = endpoint.deliveries.filter(status=WebhookDelivery.Status.HELD).count()
        note = f" {held} stay held until the endpoint is enabled." if held else ""
        self.message_user(
            request,
            f"{_count(count, 'delivery', 'deliveries')} sent again.{note}",
            messages.SUCCESS,
        )
        return self._back(endpoint)

    def replay_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        endpoint = self._endpoint(request, object_id)
        default = timezone.localtime().replace(second=0, microsecond=0)
        form = ReplayForm(
            request.POST if request.method == "POST" else None,
            initial={"since": default - timedelta(days=1)},
        )
        if not form.is_valid():
            return self._confirm_page(
                request,
                endpoint,
                title="Replay events",
                lines=[
                    "Send this endpoint the events of its types recorded since"
                    " a moment in the past, e.g. to catch up a new endpoint."
                ],
                button="Replay events",
                form=form,
            )
        since = form.cleaned_data["since"]
        try:
            count = replay_events(
                endpoint=endpoint, since=since, staff_user=request.user
            )
        except BillingError as error:
            return self._refused(request, endpoint, error)
        shown = f"{timezone.localtime(since):%Y-%m-%d %H:%M}"
        self.log_change(
            request, endpoint, f"Replayed {_count(count, 'event')} since {shown}."
        )
        if count:
            self.message_user(
                request,
                f"{_count(count, 'event')} recorded since {shown} sent to {endpoint}.",
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request,
                f"No event of its types recorded since {shown} that {endpoint}"
                " has not had already.",
                messages.WARNING,
            )
        return self._back(endpoint)


# Events and deliveries ------------------------------------------------------
