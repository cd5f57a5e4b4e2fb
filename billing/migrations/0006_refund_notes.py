"""Refunds keep the customer's reason and the staff note apart.

SQLite adds a NOT NULL column by rebuilding the table, which drops the
ledger's update guard (migration 0003); it is put back after the rebuild,
both ways. PostgreSQL adds the columns in place and keeps its trigger.
"""

from importlib import import_module

from django.db import migrations, models

ledger = import_module("billing.migrations.0003_ledger_triggers")


def reinstall_sqlite_guard(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(ledger.SQLITE_BACKWARD)
        schema_editor.execute(ledger.SQLITE_FORWARD)


class Migration(migrations.Migration):
    dependencies = [("billing", "0005_usage_rollups")]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, reinstall_sqlite_guard),
        migrations.AddField(
            model_name="chargerecord",
            name="customer_reason",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name="chargerecord",
            name="staff_note",
            field=models.TextField(blank=True),
        ),
        migrations.RunPython(reinstall_sqlite_guard, migrations.RunPython.noop),
    ]
