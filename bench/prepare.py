"""Fill a fresh bench database for ``bench/run.sh``.

- ``bench-u-<n>``: BENCH_ACCOUNTS personal accounts for authorize and
  ingestion. Every tenth one is on a ``bench-tight-<tier>`` plan with small
  allowances, so the ingestion traffic takes it past 80% and 100% (the alert
  latency figure); the rest are on the default plan. None has a grant, so
  its limit is the plan allowance.
- ``bench-raw-<n>``: as many accounts again, only for ``/bench/bare-insert``,
  whose rows bypass the counters: kept apart, they cannot pollute the cache
  checks.
- ``bench-co`` (the hot company) and ``bench-co-<n>`` (BENCH_COMPANIES
  companies), each with 100,000 job slots granted.

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

from billing.models import Account, Grant, Meter, Plan, PlanAllowance  # noqa: E402
from billing.services.accounts import default_plan  # noqa: E402
from billing.services.api_keys import create_api_key  # noqa: E402

ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "1000"))
COMPANIES = int(os.environ.get("BENCH_COMPANIES", "100"))
SLOTS = 100_000
# Allowances of the tight tiers: (bandwidth bytes, transcoding seconds,
# storage bytes). Bandwidth gets 80% of the bench events, the other two 10%
# each (~1,500 units an event), so each tier crosses its thresholds after
# about the same number of events on every meter. Tiers spread the crossings
# over the ingestion runs, on slow and fast machines and in quick runs alike.
TIGHT_TIERS = [
    (20_000, 2_500, 2_500),
    (60_000, 7_500, 7_500),
    (200_000, 25_000, 25_000),
    (600_000, 75_000, 75_000),
]

meters = {m.code: m for m in Meter.objects.all()}
plan = default_plan()
tight = []
for tier, amounts in enumerate(TIGHT_TIERS, start=1):
    tier_plan = Plan.objects.create(code=f"bench-tight-{tier}", name=f"Tight {tier}")
    PlanAllowance.objects.bulk_create(
        [
            PlanAllowance(plan=tier_plan, meter=meters[code], amount=amount)
            for code, amount in zip(
                ("bandwidth", "transcoding", "storage"), amounts, strict=True
            )
        ]
    )
    tight.append(tier_plan)


def user_plan(i: int) -> Plan:
    if i % 10:
        return plan
    return tight[(i // 10) % len(tight)]


Account.objects.bulk_create(
    [
        Account(
            kind=Account.Kind.USER,
            name=f"Bench {i}",
            external_id=f"bench-u-{i}",
            plan=user_plan(i),
        )
        for i in range(ACCOUNTS)
    ]
    + [
        Account(
            kind=Account.Kind.USER,
            name=f"Bench raw {i}",
            external_id=f"bench-raw-{i}",
            plan=plan,
        )
        for i in range(ACCOUNTS)
    ]
)
companies = Account.objects.bulk_create(
    [
        Account(
            kind=Account.Kind.COMPANY,
            name="Bench Co",
            external_id="bench-co",
            plan=plan,
        )
    ]
    + [
        Account(
            kind=Account.Kind.COMPANY,
            name=f"Bench Co {i}",
            external_id=f"bench-co-{i}",
            plan=plan,
        )
        for i in range(COMPANIES)
    ]
)
Grant.objects.bulk_create(
    [
        Grant(
            account=company,
            meter=meters["job_slots"],
            amount=SLOTS,
            effective_at=timezone.now() - timedelta(days=1),
            expires_at=None,
            source=Grant.Source.ADJUSTMENT,
            reason="bench",
        )
        for company in companies
    ]
)
print(create_api_key(name="bench").raw_key)
