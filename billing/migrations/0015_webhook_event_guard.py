"""A webhook event, once written, is what the platform was told: its rows
are never updated (PostgreSQL and SQLite alike). Old events may be deleted
(retention); their deliveries go with them only through a deliberate purge.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION billing_webhookevent_guard() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'webhook events are immutable: billing_webhookevent % cannot be changed',
    OLD.id;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER billing_webhookevent_guard
  BEFORE UPDATE ON billing_webhookevent
  FOR EACH ROW EXECUTE FUNCTION billing_webhookevent_guard();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS billing_webhookevent_guard ON billing_webhookevent;
DROP FUNCTION IF EXISTS billing_webhookevent_guard();
"""
SQLITE_FORWARD = """
CREATE TRIGGER billing_webhookevent_no_update
BEFORE UPDATE ON billing_webhookevent
BEGIN
  SELECT RAISE(ABORT, 'webhook events are immutable: billing_webhookevent cannot be changed');
END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS billing_webhookevent_no_update;"


def forward(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def backward(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)
    elif connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("billing", "0014_webhooks")]

    operations = [migrations.RunPython(forward, backward)]
