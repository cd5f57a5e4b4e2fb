from django.core.management.base import BaseCommand, CommandError

from billing.errors import BillingError
from billing.services.api_keys import create_api_key


class Command(BaseCommand):
    help = "Create an API key for the platform's services; prints the key once."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who uses the key, e.g. 'upload-service'.")

    def handle(self, *args, **options):
        try:
            issued = create_api_key(name=options["name"])
        except BillingError as error:
            raise CommandError(error.message) from error
        self.stderr.write(
            f"API key {issued.api_key.name!r} created ({issued.api_key.prefix}…). "
            "Store it now: only its hash is kept, it cannot be shown again."
        )
        self.stdout.write(issued.raw_key)
