"""Staff admin: the catalogue, accounts, and a read-only view of the facts.

Meters, plans and packs are data that staff edit here, saved through the
catalogue services so each change is on record; none is deleted here (a
pack is taken off sale; meters and plans are referenced data). Everything
else is a fact (usage, charges, purchases, consents, grants once made, the
audit trail, webhook events) and is read-only: staff change state only
through admin actions and forms that call the services in
``billing.services``, so every rule keeps its one home. Each power-bearing
action shows only to staff with its permission (``billing.permissions``),
and its service checks again. One module per concern; importing them
registers their admins.
"""

from . import (  # noqa: F401 (registers them)
    accounts,
    alerts,
    api_keys,
    audit,
    catalogue,
    documents,
    grants,
    ledger,
    tax,
    usage,
    webhook_deliveries,
    webhook_endpoints,
)
