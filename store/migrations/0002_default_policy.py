"""Seed the default revenue-share policy (staff edit it in admin).

The same terms as ``store.revenue.DEFAULT_TERMS``, which applies while no
policy row exists. Idempotent: it adds nothing when a policy exists.
"""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import migrations

TIERS = [(100_000, Decimal(70)), (1_000_000, Decimal(60)), (None, Decimal(50))]


def seed(apps, schema_editor):
    RevenuePolicy = apps.get_model("store", "RevenuePolicy")
    RevenueTier = apps.get_model("store", "RevenueTier")
    if RevenuePolicy.objects.exists():
        return
    policy = RevenuePolicy.objects.create(
        name="Standard creator share",
        effective_from=datetime(2000, 1, 1, tzinfo=UTC),
        monthly_cap_cents=50_000,
    )
    for up_to, percent in TIERS:
        RevenueTier.objects.create(
            policy=policy, up_to_cents=up_to, creator_percent=percent
        )


class Migration(migrations.Migration):
    dependencies = [("store", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
