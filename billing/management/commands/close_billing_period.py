from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.errors import BillingError
from billing.services.periods import close_billing_period
from billing.units import parse_period, period_of


class Command(BaseCommand):
    help = "Charge consented overage for a finished month (default: last month)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--period", help="YYYY-MM; defaults to the previous month (UTC)."
        )

    def handle(self, *args, period=None, **options):
        try:
            target = (
                parse_period(period) if period else period_of(timezone.now()).previous()
            )
        except ValueError:
            raise CommandError(
                f"--period must look like 2026-10, not {period!r}."
            ) from None
        try:
            result = close_billing_period(period=target)
        except BillingError as error:
            raise CommandError(error.message) from None
        note = " (was already closed)" if result.already_closed else ""
        self.stdout.write(
            f"Closed {result.period}{note}: "
            f"{result.charges_created} overage charge(s) created."
        )
