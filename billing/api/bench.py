"""Baseline for ``make bench`` only: a bare raw insert of a usage batch.

Mounted under /api/v1/bench/raw-insert only when BENCH=1. No key, no schema,
no rules: one ``INSERT ... ON CONFLICT DO NOTHING`` of the same rows the real
endpoint stores, so the benchmark can say what share of the database's raw
insert rate the full ingestion path keeps.
"""

import json

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from ..models import Account, Meter, UsageEvent


@csrf_exempt
def raw_insert(request: HttpRequest) -> JsonResponse:
    events = json.loads(request.body)["events"]
    sql = f"""
        INSERT INTO {UsageEvent._meta.db_table}
            (event_id, account_id, meter_id, quantity, timestamp, received_at,
             properties, payload_hash)
        SELECT e.id, a.id, m.id, e.quantity, now(), now(), '{{}}'::jsonb, ''
        FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[])
            AS e(id, account, meter, quantity)
        JOIN {Account._meta.db_table} a ON a.external_id = e.account
        JOIN {Meter._meta.db_table} m ON m.code = e.meter
        ON CONFLICT (event_id) DO NOTHING
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                [e["id"] for e in events],
                [e["account"] for e in events],
                [e["meter"] for e in events],
                [e["quantity"] for e in events],
            ],
        )
        inserted = cursor.rowcount
    return JsonResponse({"accepted": inserted, "duplicates": len(events) - inserted})
