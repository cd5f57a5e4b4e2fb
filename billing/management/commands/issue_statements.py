from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.errors import BillingError
from billing.management.options import period_option
from billing.services.statements import issue_due_statements, issue_statements


class Command(BaseCommand):
    help = (
        "Write the monthly statements of account. Without --period, every ended"
        " month (UTC) since the first charge whose statements are missing (the"
        " monthly run, catching up a missed one); accounts that have theirs are"
        " skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--period", help="YYYY-MM: the month to issue.")

    def handle(self, *args, period=None, **options):
        now = timezone.now()
        try:
            if period is not None:
                runs = [issue_statements(period=period_option(period), at=now)]
            else:
                runs = issue_due_statements(at=now)
        except BillingError as error:
            raise CommandError(error.message) from None
        if not runs:
            self.stdout.write("No charges yet: no statements to issue")
        for run in runs:
            self.stdout.write(
                f"Issued {run.issued} statement{'s' if run.issued != 1 else ''} for"
                f" {run.period} ({run.already_issued} already issued)"
            )
