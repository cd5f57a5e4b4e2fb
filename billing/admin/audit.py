"""The append-only audit trail of staff actions, read-only."""

import json

from django.apps import apps
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join

from ..models import (
    AuditEntry,
)
from .base import ReadOnlyAdmin


def _audit_value(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin[AuditEntry]):
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
