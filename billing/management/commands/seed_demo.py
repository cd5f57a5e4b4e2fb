"""Load the demo data: logins in every state, six months of history (see README).

The history is built through the billing services
(``billing.management.demo``). The whole seed is one transaction: it is all
there or not at all, so the staff user's presence tells a rerun that there is
nothing to do.
"""

import time as clock
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from accounts.models import User
from billing.management.demo.logins import LOGINS, STAFF_EMAIL
from billing.management.demo.seed import DemoSeed
from billing.models import (
    ChargeRecord,
    UsageEvent,
    UsageSnapshot,
)

__all__ = ["LOGINS", "STAFF_EMAIL", "Command"]


class Command(BaseCommand):
    help = (
        "Create the demo logins, accounts in every quota state and six months "
        "of usage, snapshots and charges. Does nothing if already seeded."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password",
            default="demo",
            help="Password of every demo login (default: demo).",
        )

    def handle(self, *args: Any, password: str, **options: Any) -> None:
        staff = User.objects.filter(email=STAFF_EMAIL).first()
        if staff is None:
            self._check_database_is_fresh()
            started = clock.monotonic()
            # Alerts raised while seeding are not news to anyone: drop their
            # e-mails rather than print a dozen to the console.
            with (
                override_settings(
                    EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
                    BILLING_EMAIL_INVOICES=False,
                ),
                transaction.atomic(),
            ):
                DemoSeed(password=password, now=timezone.now()).run()
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo data created in {clock.monotonic() - started:.1f} s; "
                    f"the database holds {User.objects.count()} users, "
                    f"{UsageEvent.objects.count()} usage events, "
                    f"{UsageSnapshot.objects.count()} snapshots, "
                    f"{ChargeRecord.objects.count()} charges."
                )
            )
            shown = password
        else:
            self.stdout.write("Demo data already present: nothing created.")
            # Passwords are left as first seeded; say so if they differ.
            shown = password if staff.check_password(password) else "(as seeded)"
        self._print_logins(shown)

    def _check_database_is_fresh(self) -> None:
        """Refuse to mix the demo into real data.

        Seeding closes every past month for all accounts and takes their
        snapshots, which would bill real usage; a half-present demo (logins
        without the staff user) would only fail on a unique e-mail.
        """
        if UsageEvent.objects.exists() or ChargeRecord.objects.exists():
            raise CommandError(
                "This database already has usage or charges; seed_demo only "
                "seeds a fresh database."
            )
        taken = list(
            User.objects.filter(email__in=[login.email for login in LOGINS])
            .order_by("email")
            .values_list("email", flat=True)
        )
        if taken:
            raise CommandError(
                f"Demo logins exist without {STAFF_EMAIL}: {', '.join(taken)}. "
                "Seed a fresh database."
            )

    def _print_logins(self, password: str) -> None:
        self.stdout.write("\nDemo logins:")
        width = max(len(login.email) for login in LOGINS)
        for login in LOGINS:
            self.stdout.write(f"  {login.email:<{width}}  {password}  {login.role}")
