from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.errors import BillingError
from billing.management.options import period_option
from billing.services.periods import close_billing_period, close_due_periods


class Command(BaseCommand):
    help = (
        "Charge consented overage for finished months. Without --period, closes"
        " every month whose end plus BILLING_CLOSE_GRACE_HOURS has passed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--period", help="YYYY-MM: close that month now (a staff decision)."
        )

    def handle(self, *args, period=None, **options):
        now = timezone.now()
        try:
            if period:
                target = period_option(period)
                results = [close_billing_period(period=target, at=now)]
            else:
                results = close_due_periods(at=now)
        except BillingError as error:
            raise CommandError(error.message) from None
        if not results:
            self.stdout.write("No month is due to close yet.")
        for result in results:
            note = " (was already closed)" if result.already_closed else ""
            self.stdout.write(
                f"Closed {result.period}{note}: "
                f"{result.charges_created} overage charge(s) created."
            )
