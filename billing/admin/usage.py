"""Usage facts and their caches, read-only."""

from typing import Any

from django.contrib import admin

from ..models import (
    ClosedPeriod,
    GaugeLevel,
    GrantBurn,
    UsageCounter,
    UsageEvent,
    UsageRollup,
    UsageSnapshot,
)
from ..units import (
    format_quantity,
)
from .base import ReadOnlyAdmin


class _QuantityColumns:
    """Human quantities for rows with a ``meter`` (select_related it)."""

    @staticmethod
    def _quantity(obj: Any, field: str) -> str:
        return format_quantity(getattr(obj, field), obj.meter.unit)


@admin.register(UsageEvent)
class UsageEventAdmin(_QuantityColumns, ReadOnlyAdmin[UsageEvent]):
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
class UsageCounterAdmin(_QuantityColumns, ReadOnlyAdmin[UsageCounter]):
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
class GaugeLevelAdmin(_QuantityColumns, ReadOnlyAdmin[GaugeLevel]):
    list_display = ("account", "meter", "human_level", "updated_at")
    list_filter = ("meter",)
    list_select_related = ("account", "meter")
    search_fields = ("account__name", "account__external_id")

    @admin.display(description="Level", ordering="level")
    def human_level(self, obj: GaugeLevel) -> str:
        return self._quantity(obj, "level")


@admin.register(UsageSnapshot)
class UsageSnapshotAdmin(_QuantityColumns, ReadOnlyAdmin[UsageSnapshot]):
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
class ClosedPeriodAdmin(ReadOnlyAdmin[ClosedPeriod]):
    """Closed by ``close_billing_period``; reopening would allow double billing."""

    list_display = ("__str__", "period_start", "closed_at")
    date_hierarchy = "period_start"


@admin.register(GrantBurn)
class GrantBurnAdmin(ReadOnlyAdmin[GrantBurn]):
    """Top-up units burned per period: a cache of the event-time fold,
    rewritten by usage writes and ``rebuild_usage``."""

    list_display = ("grant", "account", "period_start", "units")
    list_filter = ("period_start",)
    list_select_related = ("grant__meter", "account")


@admin.register(UsageRollup)
class UsageRollupAdmin(ReadOnlyAdmin[UsageRollup]):
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
