from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.errors import BillingError
from billing.management.options import period_option
from billing.services.statements import issue_statements
from billing.units import period_of


class Command(BaseCommand):
    help = (
        "Write the monthly statements of account. Without --period, issues the"
        " previous calendar month (UTC); accounts that have theirs are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--period", help="YYYY-MM: the month to issue.")

    def handle(self, *args, period=None, **options):
        now = timezone.now()
        target = (
            period_option(period) if period is not None else period_of(now).previous()
        )
        try:
            run = issue_statements(period=target, now=now)
        except BillingError as error:
            raise CommandError(error.message) from None
        self.stdout.write(
            f"Issued {run.issued} statement{'s' if run.issued != 1 else ''} for"
            f" {run.period} ({run.already_issued} already issued)"
        )
