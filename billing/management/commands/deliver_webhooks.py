from django.core.management.base import BaseCommand

from billing.services.webhook_deliveries import deliver_due_webhooks


class Command(BaseCommand):
    help = (
        "Attempt every webhook delivery that is due (new, a retry, or an attempt"
        " whose worker died). The worker does this by itself with the database"
        " queue; run this from cron where tasks run in process."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit", type=int, default=500, help="At most this many attempts."
        )

    def handle(self, *args, **options):
        made = deliver_due_webhooks(limit=options["limit"])
        self.stdout.write(f"Webhook attempts made: {made}.")
