"""The tools on a webhook endpoint's change page: rotate its secret, enable
it again, resend what it missed, replay events since a moment, and the page
that shows a new signing secret once.

Each tool is a page of its own (``get_urls``) that asks before it acts,
calls one service in ``billing.services.webhook_endpoints`` (which checks
the staff permission again) and leaves an entry in the admin history.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from ..errors import BillingError
from ..models import WebhookDelivery, WebhookEndpoint
from ..services.webhook_endpoints import (
    ROTATION_OVERLAP,
    IssuedSecret,
    enable_endpoint,
    replay_events,
    resend_undelivered,
    rotate_secret,
)
from .base import staff_user
from .webhook_common import admin_url, count_of

TEMPLATES = "admin/billing/webhookendpoint"
DOCS = "docs/webhooks.md"

# How long after saving the page that shows a new secret may open.
SECRET_PAGE_WINDOW = timedelta(minutes=5)


def _secret_key(endpoint: WebhookEndpoint) -> str:
    return f"webhook-secret:{endpoint.pk}"


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


class EndpointToolsAdmin(admin.ModelAdmin):
    """The tool pages of ``WebhookEndpointAdmin``, its base class."""

    def _tools(self, endpoint: WebhookEndpoint) -> list[tuple[str, str]]:
        tools = [("rotate", "Rotate secret")]
        if endpoint.disabled_at is not None:
            tools.append(("enable", "Enable again and resend what it missed"))
        tools += [
            ("resend", "Resend undelivered (held or failed)"),
            ("replay", "Replay events since…"),
        ]
        return [(admin_url(endpoint, name), label) for name, label in tools]

    def get_urls(self) -> list[URLPattern]:
        def tool(name: str, view: Callable[..., HttpResponse]) -> URLPattern:
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
        return HttpResponseRedirect(admin_url(endpoint))

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
            "change_url": admin_url(endpoint),
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
            "change_url": admin_url(endpoint),
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
            issued = rotate_secret(endpoint=endpoint, actor=staff_user(request))
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
            count = enable_endpoint(endpoint=endpoint, actor=staff_user(request))
        except BillingError as error:
            return self._refused(request, endpoint, error)
        self.log_change(
            request,
            endpoint,
            f"Enabled again; resent {count_of(count, 'delivery', 'deliveries')}.",
        )
        self.message_user(
            request,
            f"{endpoint} is enabled again;"
            f" {count_of(count, 'delivery', 'deliveries')} sent again.",
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
            count = resend_undelivered(endpoint=endpoint, actor=staff_user(request))
        except BillingError as error:
            return self._refused(request, endpoint, error)
        self.log_change(
            request,
            endpoint,
            f"Resent {count_of(count, 'delivery', 'deliveries')} (held or failed).",
        )
        held = endpoint.deliveries.filter(status=WebhookDelivery.Status.HELD).count()
        note = f" {held} stay held until the endpoint is enabled." if held else ""
        self.message_user(
            request,
            f"{count_of(count, 'delivery', 'deliveries')} sent again.{note}",
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
                endpoint=endpoint, since=since, actor=staff_user(request)
            )
        except BillingError as error:
            return self._refused(request, endpoint, error)
        shown = f"{timezone.localtime(since):%Y-%m-%d %H:%M}"
        self.log_change(
            request, endpoint, f"Replayed {count_of(count, 'event')} since {shown}."
        )
        if count:
            self.message_user(
                request,
                f"{count_of(count, 'event')} recorded since {shown}"
                f" sent to {endpoint}.",
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
