"""Webhook deliveries and events in the admin: read-only, with the attempts
of each delivery and a resend action (the staff view of what was sent).
"""

import json

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.text import Truncator

from ..errors import BillingError
from ..models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
)
from ..permissions import MANAGE_WEBHOOKS, holds_staff_power
from ..services.webhook_deliveries import event_body
from ..services.webhook_endpoints import (
    resend,
)
from .base import ReadOnlyAdmin, ReadOnlyInline, staff_user
from .webhook_common import (
    EMPTY,
    admin_link,
    count_of,
    next_retry,
    pretty_json,
    to_the_second,
)


class FactsInline(ReadOnlyInline):
    """Rows shown on their parent's page, never edited there."""

    template = "admin/billing/webhookdelivery/read_only_inline.html"


class AttemptInline(FactsInline):
    model = WebhookAttempt
    fields = (
        "number",
        "started",
        "finished",
        "status_code",
        "duration",
        "error",
        "response",
    )
    verbose_name_plural = "attempts"

    def has_view_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        # Attempts are part of their delivery: whoever sees it sees them.
        return request.user.has_perm("billing.view_webhookdelivery")

    # To the second, short enough for a narrow screen: retries can follow
    # each other within a minute.
    @admin.display(description="Started")
    def started(self, attempt: WebhookAttempt) -> str:
        return to_the_second(attempt.started_at)

    @admin.display(description="Finished")
    def finished(self, attempt: WebhookAttempt) -> str:
        return to_the_second(attempt.finished_at)

    @admin.display(description="Duration")
    def duration(self, attempt: WebhookAttempt) -> str:
        return EMPTY if attempt.duration_ms is None else f"{attempt.duration_ms} ms"

    @admin.display(description="Response excerpt")
    def response(self, attempt: WebhookAttempt) -> str:
        return Truncator(attempt.response_excerpt).chars(200) or EMPTY


class DeliveryInline(FactsInline):
    model = WebhookDelivery
    fields = (
        "delivery",
        "endpoint",
        "status",
        "attempt_count",
        "last_status_code",
        "next_retry",
        "delivered_at",
    )
    verbose_name_plural = "deliveries"

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        return super().get_queryset(request).select_related("endpoint")

    @admin.display(description="Delivery")
    def delivery(self, obj: WebhookDelivery) -> str:
        return admin_link(obj, f"#{obj.pk}")

    @admin.display(description="Next retry")
    def next_retry(self, obj: WebhookDelivery) -> str:
        return next_retry(obj)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin[WebhookDelivery]):
    list_display = (
        "event_type",
        "status",
        "attempts",
        "last_code",
        "next_retry",
        "endpoint",
        "account_external_id",
        "event_id",
        "created_at",
    )
    list_display_links = ("event_type",)
    list_filter = ("status", "event__type", "endpoint", "created_at")
    list_select_related = ("event__account", "endpoint")
    # Exact matches, so each search uses the unique index it names.
    search_fields = ("event__event_id__exact", "event__account__external_id__exact")
    search_help_text = "An event id (evt_…) or an account's external id, exactly."
    # The unfiltered total would count the whole table on every page.
    show_full_result_count = False
    actions = ("resend_selected",)
    inlines = (AttemptInline,)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("event_link", "event_type"),
                    ("account_external_id", "endpoint_link"),
                    ("status", "attempt_count", "last_status_code"),
                    "last_error",
                    "next_retry",
                    ("created_at", "window_started_at", "delivered_at"),
                )
            },
        ),
        ("Request body", {"fields": ("body",)}),
    )
    readonly_fields = (
        "event_link",
        "event_type",
        "account_external_id",
        "endpoint_link",
        "next_retry",
        "body",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        return (
            super().get_queryset(request).select_related("event__account", "endpoint")
        )

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return holds_staff_power(actor=staff_user(request), permission=MANAGE_WEBHOOKS)

    @admin.display(description="Event type", ordering="event__type")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.type

    @admin.display(description="Event id", ordering="event__event_id")
    def event_id(self, obj: WebhookDelivery) -> str:
        return obj.event.event_id

    @admin.display(
        description="Account (external id)", ordering="event__account__external_id"
    )
    def account_external_id(self, obj: WebhookDelivery) -> str:
        account = obj.event.account
        return (account.external_id if account else None) or EMPTY

    @admin.display(description="Next retry", ordering="next_attempt_at")
    def next_retry(self, obj: WebhookDelivery) -> str:
        return next_retry(obj)

    @admin.display(description="Attempts", ordering="attempt_count")
    def attempts(self, obj: WebhookDelivery) -> int:
        return obj.attempt_count

    @admin.display(description="Last code", ordering="last_status_code")
    def last_code(self, obj: WebhookDelivery) -> object:
        if obj.last_status_code is None and obj.last_error:
            return "no answer"  # refused, timed out: the page shows the error
        return obj.last_status_code

    @admin.display(description="Event")
    def event_link(self, obj: WebhookDelivery) -> str:
        return admin_link(obj.event, obj.event.event_id)

    @admin.display(description="Endpoint")
    def endpoint_link(self, obj: WebhookDelivery) -> str:
        return admin_link(obj.endpoint, obj.endpoint.url)

    @admin.display(description="Body (sent compact, indented here)")
    def body(self, obj: WebhookDelivery) -> str:
        return pretty_json(json.loads(event_body(obj.event)))

    @admin.action(description="Resend selected deliveries", permissions=["resend"])
    def resend_selected(
        self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]
    ) -> None:
        deliveries = list(queryset.select_related("event", "endpoint"))
        try:
            count = resend(deliveries=deliveries, actor=staff_user(request))
        except BillingError as error:
            self.message_user(request, error.message, messages.ERROR)
            return
        for delivery in deliveries:
            self.log_change(request, delivery, "Sent again.")
        held = WebhookDelivery.objects.filter(
            pk__in=[d.pk for d in deliveries], status=WebhookDelivery.Status.HELD
        ).count()
        note = (
            f" {held} wait, held, until their endpoint is enabled again."
            if held
            else ""
        )
        self.message_user(
            request,
            f"{count_of(count, 'delivery', 'deliveries')} sent again.{note}",
            messages.SUCCESS,
        )


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin[WebhookEvent]):
    list_display = ("type", "event_id", "account", "occurred_at", "created_at")
    list_filter = ("type", "created_at")
    list_select_related = ("account",)
    search_fields = ("event_id__exact", "account__external_id__exact")
    search_help_text = "An event id (evt_…) or an account's external id, exactly."
    show_full_result_count = False
    inlines = (DeliveryInline,)
    fields = (
        ("type", "event_id"),
        "account",
        ("occurred_at", "created_at"),
        "dedupe_key",
        "payload",
    )
    readonly_fields = ("payload",)

    @admin.display(description="Data")
    def payload(self, obj: WebhookEvent) -> str:
        return pretty_json(obj.data)
