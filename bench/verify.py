"""After the ingestion runs: every accepted event stored exactly once.

Checks, for the service-ingested events of this run (ids ``<prefix>-...``):
each batch is stored whole or not at all, no id twice, at least every
accepted event stored (at most the batches wrk had in flight when it
stopped on top), the per-period counters and storage levels equal the sum of
the stored events, and resending a stored batch adds nothing.
Exits non-zero on any mismatch.
"""

import json
import os
import sys
import urllib.request

import django

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.db import connection  # noqa: E402

prefix, batch, accepted, generated = (
    sys.argv[1],
    int(sys.argv[2]),
    int(sys.argv[3]),
    int(sys.argv[4]),
)
url, key = os.environ["BENCH_URL"], os.environ["BENCH_KEY"]
failures = []

with connection.cursor() as cursor:
    cursor.execute(
        "SELECT count(*), count(DISTINCT event_id) FROM billing_usageevent"
        " WHERE event_id LIKE %s",
        [prefix + "-%"],
    )
    stored, distinct = cursor.fetchone()
    cursor.execute(
        "SELECT count(*) FROM (SELECT split_part(event_id, '-', 2)"
        " || '-' || split_part(event_id, '-', 3) AS b, count(*) AS n"
        " FROM billing_usageevent WHERE event_id LIKE %s GROUP BY b) s"
        " WHERE n <> %s",
        [prefix + "-%", batch],
    )
    (partial,) = cursor.fetchone()
    # Counters and levels of all service-ingested events (every run so far,
    # raw-insert rows excluded: that endpoint bypasses the counters).
    cursor.execute(
        "SELECT coalesce(sum(quantity), 0) FROM billing_usageevent"
        " WHERE event_id NOT LIKE 'raw%%'"
    )
    (events_total,) = cursor.fetchone()
    cursor.execute("SELECT coalesce(sum(used), 0) FROM billing_usagecounter")
    (counters,) = cursor.fetchone()
    cursor.execute("SELECT coalesce(sum(level), 0) FROM billing_gaugelevel")
    (levels,) = cursor.fetchone()

if stored != distinct:
    failures.append(f"{stored - distinct} event ids stored twice")
if partial:
    failures.append(f"{partial} batches stored only in part")
if stored < accepted:
    failures.append(f"accepted {accepted} but stored {stored}")
if stored > generated * batch:
    failures.append(f"stored {stored} but only {generated * batch} were sent")
if counters + levels != events_total:
    failures.append(
        f"counters+levels {counters + levels} != sum of events {events_total}"
    )

# Resend the first batch of thread 0: all duplicates, nothing new.
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT event_id, a.external_id, m.code, quantity FROM billing_usageevent e"
        " JOIN billing_account a ON a.id = e.account_id"
        " JOIN billing_meter m ON m.id = e.meter_id"
        " WHERE event_id LIKE %s ORDER BY event_id",
        [f"{prefix}-0-1-%"],
    )
    rows = cursor.fetchall()
if rows:
    body = json.dumps(
        {
            "events": [
                {"id": i, "account": a, "meter": m, "quantity": q}
                for i, a, m, q in rows
            ]
        }
    ).encode()
    request = urllib.request.Request(
        url + "/api/v1/usage/events",
        data=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        replay = json.load(response)
    if replay != {"accepted": 0, "duplicates": len(rows)}:
        failures.append(f"replaying a stored batch gave {replay}")

status = "FAIL " + "; ".join(failures) if failures else "ok"
print(
    f"verify: accepted={accepted} stored={stored} (in flight at stop: "
    f"{stored - accepted}) whole batches, unique ids, counters match: {status}"
)
sys.exit(1 if failures else 0)
