"""Make the audit trail append-only in the database itself, as the ledger is.

An entry is never updated nor deleted, on PostgreSQL and on SQLite alike.
(Test runs that end with a flush empty the table with the SQLite guard
lifted for that moment: see tests/conftest.py.)
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION billing_auditentry_guard() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit entries are append-only: % cannot be changed (%)',
    OLD.id, TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER billing_auditentry_guard
  BEFORE UPDATE OR DELETE ON billing_auditentry
  FOR EACH ROW EXECUTE FUNCTION billing_auditentry_guard();
"""

PG_BACKWARD = """
DROP TRIGGER IF EXISTS billing_auditentry_guard ON billing_auditentry;
DROP FUNCTION IF EXISTS billing_auditentry_guard();
"""

SQLITE_FORWARD = [
    """
CREATE TRIGGER billing_auditentry_no_update
BEFORE UPDATE ON billing_auditentry
BEGIN
  SELECT RAISE(ABORT, 'audit entries are append-only: no UPDATE');
END;
""",
    """
CREATE TRIGGER billing_auditentry_no_delete
BEFORE DELETE ON billing_auditentry
BEGIN
  SELECT RAISE(ABORT, 'audit entries are append-only: no DELETE');
END;
""",
]

SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS billing_auditentry_no_update;",
    "DROP TRIGGER IF EXISTS billing_auditentry_no_delete;",
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("billing", "0008_audit_entries_and_staff_permissions")]

    operations = [migrations.RunPython(forward, backward)]
