"""Argument parsing shared by the billing management commands."""

from django.core.management.base import CommandError

from billing.units import Period, parse_period


def period_option(text: str) -> Period:
    """``--period YYYY-MM`` as a Period, or a CommandError that shows the form."""
    try:
        return parse_period(text)
    except ValueError:
        raise CommandError(f"--period must look like 2026-10, not {text!r}.") from None
