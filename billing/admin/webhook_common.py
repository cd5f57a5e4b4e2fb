"""Display helpers shared by the webhook admin modules: links to admin
pages, times to the second, counts and JSON bodies as the pages show them.
"""

import json
from datetime import datetime

from django.contrib.admin.utils import display_for_value
from django.db.models import Model
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from ..models import WebhookDelivery

EMPTY = "-"  # the admin's own empty value


def admin_url(obj: Model, view: str = "change") -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[obj.pk])


def admin_link(obj: Model | None, label: object = None) -> str:
    if obj is None:
        return EMPTY
    return format_html('<a href="{}">{}</a>', admin_url(obj), label or obj)


def when(value: object) -> str:
    """A value as the changelist shows it ("-" for none), also on pages
    where the admin would print a method's None or raw datetime as is."""
    return display_for_value(value, EMPTY)


def to_the_second(value: datetime | None) -> str:
    if value is None:
        return EMPTY
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S}"


def next_retry(delivery: WebhookDelivery) -> str:
    """When the next attempt is due, to the second; only a pending delivery
    has one."""
    if delivery.status != WebhookDelivery.Status.PENDING:
        return EMPTY
    return to_the_second(delivery.next_attempt_at)


def count_of(n: int, noun: str, plural: str = "") -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def pretty_json(value: object) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return format_html("<pre>{}</pre>", text)
