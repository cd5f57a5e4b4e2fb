"""Audit actions for meter and plan creation and the store's staff edits.

Choices only: no SQL runs, so the triggers of 0009 stay in place.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0009_audit_triggers"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditentry",
            name="action",
            field=models.CharField(
                choices=[
                    ("refund", "Refund"),
                    ("grant_adjusted", "Adjustment grant added"),
                    ("grant_revoked", "Grant revoked"),
                    ("theme_approved", "Theme approved"),
                    ("theme_rejected", "Theme rejected"),
                    ("account_blocked", "Account blocked"),
                    ("account_unblocked", "Account block lifted"),
                    ("account_changed", "Account changed"),
                    ("account_claimed", "Company account claimed"),
                    ("pack_created", "Pack created"),
                    ("pack_changed", "Pack changed"),
                    ("meter_created", "Meter created"),
                    ("plan_created", "Plan created"),
                    ("price_changed", "Meter or plan changed"),
                    ("bundle_created", "Bundle created"),
                    ("bundle_changed", "Bundle changed"),
                    ("bundle_deleted", "Bundle deleted"),
                    ("revenue_policy_created", "Revenue policy created"),
                    ("revenue_policy_changed", "Revenue policy changed"),
                    ("revenue_policy_deleted", "Revenue policy deleted"),
                    ("payout_recorded", "Payout recorded"),
                ],
                max_length=24,
            ),
        ),
    ]
