"""Hold the ledger's invariants in the database itself (as django-hordak does).

A charge's account, kind, amount, currency and references never change once
written, and on PostgreSQL a row can never be deleted. (SQLite keeps the
update guard only: Django's test flush empties tables with DELETE there.)
"""

from django.db import migrations

FROZEN = [
    "account_id",
    "kind",
    "amount_cents",
    "currency",
    "refund_of_id",
    "purchase_id",
]

PG_FORWARD = """
CREATE OR REPLACE FUNCTION billing_chargerecord_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'charge records are append-only: % cannot be deleted', OLD.id;
  END IF;
  IF ({changed}) THEN
    RAISE EXCEPTION 'charge record % is immutable except for its status', OLD.id;
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER billing_chargerecord_guard
  BEFORE UPDATE OR DELETE ON billing_chargerecord
  FOR EACH ROW EXECUTE FUNCTION billing_chargerecord_guard();
""".format(changed=" OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in FROZEN))

PG_BACKWARD = """
DROP TRIGGER IF EXISTS billing_chargerecord_guard ON billing_chargerecord;
DROP FUNCTION IF EXISTS billing_chargerecord_guard();
"""

SQLITE_FORWARD = """
CREATE TRIGGER billing_chargerecord_guard
BEFORE UPDATE ON billing_chargerecord
WHEN {changed}
BEGIN
  SELECT RAISE(ABORT, 'charge records are immutable except for their status');
END;
""".format(changed=" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in FROZEN))

SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS billing_chargerecord_guard;"


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_seed_catalogue")]

    operations = [migrations.RunPython(forward, backward)]
