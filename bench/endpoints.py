"""Bare endpoints for ``make bench``: what Django and the database cost alone.

``bare`` answers ``{"ok": true}``. ``bare_insert`` parses the same JSON
batch the real ingestion endpoint takes and stores its rows in the same
table with one ``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING``
(autocommit, no validation, no counters). The ratio of a real endpoint to
these is the share of the machine the product's own work leaves.
"""

import json

from django.db import connection
from django.http import HttpRequest, JsonResponse

from billing.models import Account, Meter, UsageEvent

_INSERT = f"""
    INSERT INTO {UsageEvent._meta.db_table}
        (event_id, account_id, meter_id, quantity, timestamp, received_at,
         properties, payload_hash)
    SELECT e.id, a.id, m.id, e.quantity, now(), now(), '{{}}'::jsonb, ''
    FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[])
        AS e(id, account, meter, quantity)
    JOIN {Account._meta.db_table} a ON a.external_id = e.account
    JOIN {Meter._meta.db_table} m ON m.code = e.meter
    ON CONFLICT (account_id, event_id) DO NOTHING
"""


def bare(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


def bare_insert(request: HttpRequest) -> JsonResponse:
    events = json.loads(request.body)["events"]
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT,
            [
                [e["id"] for e in events],
                [e["account"] for e in events],
                [e["meter"] for e in events],
                [e["quantity"] for e in events],
            ],
        )
        inserted = cursor.rowcount
    return JsonResponse({"accepted": inserted, "duplicates": len(events) - inserted})
