"""Make issued documents immutable in the database itself, as the ledger is.

Invoices, credit notes, statements and their lines are never updated nor
deleted, on PostgreSQL and on SQLite alike; an invoice's ``emailed_at`` is
the one column that may be set after issue, once. (Test runs that end with a
flush empty these tables with the SQLite guards lifted for that moment: see
tests/conftest.py.)
"""

from django.db import migrations

# Children first: the order a flush must empty them in.
TABLES = [
    "billing_statementline",
    "billing_statement",
    "billing_creditnoteline",
    "billing_creditnote",
    "billing_invoiceline",
    "billing_invoice",
]
# The invoice's columns other than emailed_at (kept explicit, so a later
# column is frozen too only when it is listed here).
INVOICE_FROZEN = [
    "id",
    "number",
    "account_id",
    "issued_at",
    "currency",
    "seller_name",
    "seller_address",
    "seller_country",
    "seller_vat_id",
    "seller_bank",
    "buyer_name",
    "buyer_address",
    "buyer_country",
    "buyer_vat_id",
    "buyer_email",
    "reverse_charge",
    "net_cents",
    "tax_cents",
    "gross_cents",
    "charge_id",
    "period_start",
    "period_end",
    "note",
]


def _pg(table: str) -> str:
    if table == "billing_invoice":
        changed = " OR ".join(
            f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in INVOICE_FROZEN
        )
        # emailed_at is set once: from empty to the moment the e-mail went.
        once = "(OLD.emailed_at IS NULL OR NEW.emailed_at = OLD.emailed_at)"
        update = (
            f"IF TG_OP = 'UPDATE' AND NOT ({changed}) AND {once}"
            " THEN RETURN NEW; END IF;"
        )
    else:
        update = ""
    return f"""
CREATE OR REPLACE FUNCTION {table}_guard() RETURNS trigger AS $$
BEGIN
  {update}
  RAISE EXCEPTION 'issued documents are immutable: {table} % cannot be changed (%)',
    OLD.id, TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER {table}_guard
  BEFORE UPDATE OR DELETE ON {table}
  FOR EACH ROW EXECUTE FUNCTION {table}_guard();
"""


def sqlite_no_update(table: str) -> str:
    when = ""
    if table == "billing_invoice":
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in INVOICE_FROZEN)
        reset = "(OLD.emailed_at IS NOT NULL AND NEW.emailed_at IS NOT OLD.emailed_at)"
        when = f"WHEN {changed} OR {reset}"
    return f"""
CREATE TRIGGER {table}_no_update
BEFORE UPDATE ON {table}
{when}
BEGIN
  SELECT RAISE(ABORT, 'issued documents are immutable: no UPDATE of {table}');
END;
"""


def sqlite_no_delete(table: str) -> str:
    return f"""
CREATE TRIGGER {table}_no_delete
BEFORE DELETE ON {table}
BEGIN
  SELECT RAISE(ABORT, 'issued documents are immutable: no DELETE from {table}');
END;
"""


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(_pg(table), params=None)
        elif vendor == "sqlite":
            schema_editor.execute(sqlite_no_update(table))
            schema_editor.execute(sqlite_no_delete(table))


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(
                f"DROP TRIGGER IF EXISTS {table}_guard ON {table};"
                f" DROP FUNCTION IF EXISTS {table}_guard();",
                params=None,
            )
        elif vendor == "sqlite":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update;")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete;")


class Migration(migrations.Migration):
    dependencies = [("billing", "0012_documents_and_tax")]

    operations = [migrations.RunPython(forward, backward)]
