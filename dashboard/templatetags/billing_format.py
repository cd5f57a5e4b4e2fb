"""Template filters that show cents and meter units the way the rest of the app does."""

from django import template
from django.conf import settings

from billing.models import Grant, PackAllowance
from billing.units import format_cents, format_quantity

register = template.Library()


@register.filter
def cents(amount: int | None) -> str:
    return format_cents(amount or 0, settings.BILLING_CURRENCY)


@register.filter
def quantity(amount: int | None, unit: str) -> str:
    return format_quantity(amount or 0, unit)


@register.filter
def adds(line: PackAllowance | Grant) -> str:
    """What a pack line or grant adds, e.g. '+5 job slots'."""
    from dashboard.presenters import adds_line

    return adds_line(line.amount, line.meter)
