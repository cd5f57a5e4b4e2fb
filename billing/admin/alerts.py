"""Alerts, overage consents and job slots."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from ..errors import BillingError
from ..models import (
    Alert,
    JobSlot,
    OverageConsent,
)
from ..services.alerts import dismiss_alert
from ..services.job_slots import release_job_slot
from .base import ReadOnlyAdmin, money


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
class AlertAdmin(ReadOnlyAdmin[Alert]):
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
            self.log_change(request, alert, "Dismissed.")
        self.message_user(
            request, f"{len(alerts)} alert(s) dismissed.", messages.SUCCESS
        )


@admin.register(OverageConsent)
class OverageConsentAdmin(ReadOnlyAdmin[OverageConsent]):
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
        return money(obj.cap_cents)


@admin.register(JobSlot)
class JobSlotAdmin(ReadOnlyAdmin[JobSlot]):
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
                if release_job_slot(account=slot.account, job_ref=slot.job_ref):
                    released += 1
                    self.log_change(request, slot, "Released.")
            except BillingError as error:
                self.message_user(request, f"{slot}: {error.message}", messages.ERROR)
        self.message_user(
            request, f"{released} job slot(s) released.", messages.SUCCESS
        )
