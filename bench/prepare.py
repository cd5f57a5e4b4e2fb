"""Fill a fresh bench database: accounts, a slot-rich company, an API key.

Prints the raw API key on stdout (the shell script keeps it in memory only).
"""

import os
import sys
from datetime import timedelta

import django

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.utils import timezone  # noqa: E402

from billing.models import Account, Grant, Meter  # noqa: E402
from billing.services.accounts import default_plan  # noqa: E402
from billing.services.api_keys import create_api_key  # noqa: E402

ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "1000"))

plan = default_plan()
Account.objects.bulk_create(
    [
        Account(
            kind=Account.Kind.USER,
            name=f"Bench {i}",
            external_id=f"bench-u-{i}",
            plan=plan,
        )
        for i in range(ACCOUNTS)
    ]
)
company = Account.objects.create(
    kind=Account.Kind.COMPANY, name="Bench Co", external_id="bench-co", plan=plan
)
Grant.objects.create(
    account=company,
    meter=Meter.objects.get(code="job_slots"),
    amount=100_000,
    effective_at=timezone.now() - timedelta(days=1),
    expires_at=None,
    source=Grant.Source.ADJUSTMENT,
    reason="bench",
)
print(create_api_key(name="bench").raw_key)
