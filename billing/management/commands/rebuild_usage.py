from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from billing.management.options import period_option
from billing.models import Account
from billing.services.rebuild import rebuild_usage


class Command(BaseCommand):
    help = (
        "Recompute counters, levels, top-up burns, daily snapshots and staff"
        " rollups from the usage events, grants and consents. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--period", help="YYYY-MM: that month (and the later ones' burns)."
        )
        parser.add_argument(
            "--account", help="One billing account, by id or external id."
        )

    def handle(self, *args, period=None, account=None, **options):
        target = period_option(period) if period else None
        account_ids = None
        if account:
            match = Q(external_id=account)
            if account.isdigit():
                match |= Q(pk=int(account))
            account_ids = list(
                Account.objects.filter(match).values_list("pk", flat=True)
            )
            if not account_ids:
                raise CommandError(f"No billing account {account!r}.")
        now = timezone.now()
        if target is not None and target.starts_at > now:
            raise CommandError(
                f"{target} has not started yet: there is nothing to rebuild."
            )
        result = rebuild_usage(at=now, period=target, account_ids=account_ids)
        first, last = result.periods[0], result.periods[-1]
        self.stdout.write(
            f"Rebuilt {result.accounts} account(s) for {first}..{last}:"
            f" {result.snapshot_days} day(s) of snapshots."
        )
