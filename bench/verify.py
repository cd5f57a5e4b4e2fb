"""After an ingestion run: every accepted event stored exactly once.

Usage: verify.py PREFIX BATCH ACCEPTED GENERATED. Checks, for the events
that run sent to the real endpoint (ids ``<PREFIX>-<thread>-<batch>-<i>``):
each batch is stored whole or not at all, no id twice, at least every
accepted event stored (at most the batches wrk had in flight when it stopped
on top), the counters and storage levels equal the sum of the stored events
of the service's accounts (the ``bench-raw-`` accounts of the bare insert
have no counters, so they are left out), and resending a stored batch adds
nothing. Prints one line, records the check, exits non-zero on a mismatch.
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

from bench.results import record_check  # noqa: E402

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
        "SELECT count(*), count(DISTINCT (account_id, event_id))"
        " FROM billing_usageevent WHERE event_id LIKE %s",
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
    # Counters and levels against every event of the service's accounts
    # (all runs so far).
    cursor.execute(
        "SELECT coalesce(sum(e.quantity), 0) FROM billing_usageevent e"
        " JOIN billing_account a ON a.id = e.account_id"
        " WHERE a.external_id NOT LIKE 'bench-raw-%%'"
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
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            replay = json.load(response)
    except OSError as exc:  # HTTPError included
        replay = f"{exc}"
    if replay != {"accepted": 0, "duplicates": len(rows)}:
        failures.append(f"replaying a stored batch gave {replay}")

status = "FAIL " + "; ".join(failures) if failures else "ok"
print(
    f"verify {prefix}: accepted={accepted} stored={stored} (in flight at stop:"
    f" {stored - accepted}) whole batches, unique ids, counters match: {status}"
)
ok = record_check(
    f"exactly-once {prefix}", failures, f"accepted {accepted}, stored {stored}"
)
sys.exit(0 if ok else 1)
