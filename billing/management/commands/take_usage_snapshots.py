from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.errors import BillingError
from billing.services.snapshots import take_usage_snapshots


class Command(BaseCommand):
    help = "Snapshot every account's usage for a finished day (default: yesterday)."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="YYYY-MM-DD (UTC); defaults to yesterday.")

    def handle(self, *args, date=None, **options):
        try:
            day = _parse(date) if date else timezone.now().date() - timedelta(days=1)
        except ValueError:
            raise CommandError(
                f"--date must look like 2026-11-20, not {date!r}."
            ) from None
        try:
            created = take_usage_snapshots(day=day)
        except BillingError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"Snapshots for {day}: {created} row(s) written.")


def _parse(text: str) -> date:
    return date.fromisoformat(text)
