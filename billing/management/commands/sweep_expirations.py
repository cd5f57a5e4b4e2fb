from django.core.management.base import BaseCommand

from billing.services.expirations import sweep_expirations


class Command(BaseCommand):
    help = "Send expiry reminders (7 days, 1 day), raise expired alerts, suspend slots."

    def handle(self, *args, **options):
        sweep = sweep_expirations()
        self.stdout.write(
            f"Reminders: {sweep.reminders}, expired grants: {sweep.expired_grants}, "
            f"suspended slots: {sweep.suspended_slots}."
        )
