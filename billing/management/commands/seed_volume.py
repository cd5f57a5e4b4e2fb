"""Load benchmark volume: accounts, usage events, a year of snapshots, charges.

PostgreSQL only: rows are generated inside the database with
``generate_series`` (an ORM loop over 11 million snapshots would take hours),
then the staff rollups are refreshed through the billing service. The rows
are synthetic platform accounts (``vol_*``) and never touch demo logins.
"""

import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from billing.models import Account, Meter, Pack, Plan
from billing.services.rollups import refresh_usage_rollups
from billing.units import GB

ACCOUNTS_SQL = """
INSERT INTO billing_account
    (kind, name, external_id, email, plan_id, hard_blocked, created_at)
SELECT CASE WHEN g %% 5 = 0 THEN 'company' ELSE 'user' END,
       'Volume account ' || g, 'vol_' || lpad(g::text, 6, '0'), '',
       %(plan)s, false, %(now)s - interval '400 days'
FROM generate_series(1, %(accounts)s) AS g
"""

# A numbered list of the volume accounts, to pick them by g %% n.
VOL_SQL = """
CREATE TEMP TABLE vol ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY id) - 1 AS n, id,
       (abs(hashtext(id::text)) %% 1000) / 1000.0 AS size
FROM billing_account WHERE external_id LIKE 'vol\\_%%'
"""

EVENTS_SQL = """
INSERT INTO billing_usageevent
    (event_id, account_id, meter_id, quantity, timestamp, received_at,
     properties, payload_hash)
SELECT 'vol-ev-' || g, v.id,
       (ARRAY[%(storage)s, %(bandwidth)s, %(transcoding)s])[g %% 3 + 1],
       CASE g %% 3 WHEN 0 THEN 1000000 + g %% 50000000
                   WHEN 1 THEN 10000000 + g %% 900000000
                   ELSE 10 + g %% 600 END,
       ts, ts, '{}'::jsonb, md5(g::text)
FROM generate_series(1, %(events)s) AS g
JOIN vol v ON v.n = g %% %(accounts)s
CROSS JOIN LATERAL (
    SELECT %(now)s - (g %% 525600) * interval '1 minute' AS ts
) t
"""

# Per account and meter a fixed size in [0, 1); storage grows over the year,
# counters grow through each month (month to date), as real ones do.
SNAPSHOTS_SQL = """
INSERT INTO billing_usagesnapshot
    (account_id, meter_id, day, used, "limit", state, taken_at)
SELECT account_id, meter_id, day, used, lim,
       CASE WHEN used > lim THEN
                CASE WHEN account_id %% 3 = 0 THEN 'overage' ELSE 'exceeded' END
            WHEN used * 5 >= lim * 4 THEN 'warning'
            ELSE 'ok' END,
       %(now)s
FROM (
    SELECT v.id AS account_id, m.id AS meter_id, d::date AS day, m.lim,
           floor(v.size * v.size * m.peak *
                 CASE WHEN m.gauge
                      THEN 0.6 + 0.4 * (d::date - %(first)s::date) / %(days)s::numeric
                      ELSE extract(day FROM d) / 30.0 END)::bigint AS used
    FROM vol v
    CROSS JOIN (VALUES (%(storage)s, %(storage_limit)s, %(storage_peak)s, true),
                       (%(bandwidth)s, %(bandwidth_limit)s, %(bandwidth_peak)s, false),
                       (%(transcoding)s, %(transcoding_limit)s,
                        %(transcoding_peak)s, false))
         AS m (id, lim, peak, gauge)
    CROSS JOIN generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d
) s
"""

PURCHASES_SQL = """
INSERT INTO billing_purchase
    (account_id, pack_id, kind, status, idempotency_key, price_cents,
     starts_at, expires_at, created_at)
SELECT v.id, p.id,
       CASE WHEN g %% 7 = 0 AND p.kind = 'subscription' THEN 'renewal'
            ELSE 'purchase' END,
       CASE WHEN g %% 97 = 0 THEN 'failed' ELSE 'completed' END,
       'vol-p-' || g, p.price_cents, ts, ts + p.term_days * interval '1 day', ts
FROM generate_series(1, %(purchases)s) AS g
JOIN vol v ON v.n = (g::bigint * 7919) %% %(accounts)s
JOIN (SELECT row_number() OVER (ORDER BY id) - 1 AS n, * FROM billing_pack
      WHERE is_active) p ON p.n = g %% %(packs)s
CROSS JOIN LATERAL (
    SELECT %(now)s - (g %% 525600) * interval '1 minute' AS ts
) t
"""

PACK_CHARGES_SQL = """
INSERT INTO billing_chargerecord
    (account_id, kind, amount_cents, currency, status, idempotency_key,
     description, purchase_id, gateway_reference, failure_reason, created_at,
     paid_at)
SELECT pu.account_id,
       CASE WHEN pu.kind = 'renewal' THEN 'renewal'
            WHEN pk.category = 'slots' THEN 'slot_pack'
            ELSE 'capacity_pack' END,
       pu.price_cents, %(currency)s,
       CASE WHEN pu.status = 'failed' THEN 'failed' ELSE 'paid' END,
       'vol-pc-' || pu.id, pk.name, pu.id, '', '', pu.created_at,
       CASE WHEN pu.status = 'failed' THEN NULL ELSE pu.created_at END
FROM billing_purchase pu JOIN billing_pack pk ON pk.id = pu.pack_id
WHERE pu.idempotency_key LIKE 'vol-p-%%'
"""

OVERAGE_SQL = """
INSERT INTO billing_chargerecord
    (account_id, kind, amount_cents, currency, status, idempotency_key,
     description, gateway_reference, failure_reason, created_at, paid_at)
SELECT v.id, 'overage', 10 + (g * 37) %% 5000, %(currency)s,
       CASE WHEN g %% 8 = 0 THEN 'pending' WHEN g %% 33 = 0 THEN 'void'
            ELSE 'paid' END,
       'vol-oc-' || g, 'Overage (volume)', '', '', ts,
       CASE WHEN g %% 8 = 0 OR g %% 33 = 0 THEN NULL ELSE ts END
FROM generate_series(1, %(overage)s) AS g
JOIN vol v ON v.n = (g::bigint * 104729) %% %(accounts)s
CROSS JOIN LATERAL (
    SELECT date_trunc('month', %(now)s - (g %% 365) * interval '1 day')
           + (g %% 24) * interval '1 hour' AS ts
) t
"""

REFUNDS_SQL = """
INSERT INTO billing_chargerecord
    (account_id, kind, amount_cents, currency, status, idempotency_key,
     description, purchase_id, refund_of_id, gateway_reference, failure_reason,
     created_at, paid_at)
SELECT c.account_id, 'refund', -c.amount_cents, c.currency, 'paid',
       'vol-rf-' || c.id, 'Refund (volume)', c.purchase_id, c.id, '', '',
       c.created_at + interval '2 days', c.created_at + interval '2 days'
FROM billing_chargerecord c
WHERE c.idempotency_key LIKE 'vol-pc-%%' AND c.status = 'paid' AND c.id %% 100 = 0
"""


class Command(BaseCommand):
    help = (
        "Load benchmark volume on PostgreSQL: 10,000 accounts, 1,000,000 usage "
        "events, a year of daily snapshots and 100,000 charges (adjustable)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=10_000)
        parser.add_argument("--events", type=int, default=1_000_000)
        parser.add_argument("--days", type=int, default=365)
        parser.add_argument("--charges", type=int, default=100_000)

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                "seed_volume generates rows with PostgreSQL's generate_series: "
                "run it with DATABASE_URL=postgres://..."
            )
        if Account.objects.filter(external_id__startswith="vol_").exists():
            self.stdout.write("Volume data is already loaded; nothing to do.")
            return
        accounts, days = options["accounts"], options["days"]
        meters = {m.code: m for m in Meter.objects.all()}
        now = timezone.now()
        last = now.date() - timedelta(days=1)
        first = last - timedelta(days=days - 1)
        purchases = options["charges"] * 3 // 10
        params = {
            "now": now,
            "accounts": accounts,
            "events": options["events"],
            "days": days,
            "first": first,
            "last": last,
            "plan": Plan.objects.get(is_default=True).pk,
            "storage": meters["storage"].pk,
            "bandwidth": meters["bandwidth"].pk,
            "transcoding": meters["transcoding"].pk,
            "storage_limit": 2 * GB,
            "storage_peak": 3 * GB,
            "bandwidth_limit": 5 * GB,
            "bandwidth_peak": 8 * GB,
            "transcoding_limit": 3600,
            "transcoding_peak": 5400,
            "purchases": purchases,
            "packs": Pack.objects.filter(is_active=True).count(),
            "overage": options["charges"] - purchases,
            "currency": "USD",
        }
        steps = [
            ("accounts", ACCOUNTS_SQL),
            ("account list", VOL_SQL),
            ("usage events", EVENTS_SQL),
            ("snapshots", SNAPSHOTS_SQL),
            ("purchases", PURCHASES_SQL),
            ("pack charges", PACK_CHARGES_SQL),
            ("overage charges", OVERAGE_SQL),
            ("refunds", REFUNDS_SQL),
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            for label, sql in steps:
                started = time.monotonic()
                cursor.execute(sql, params)
                self._report(label, cursor.rowcount, started)
        started = time.monotonic()
        rollups = refresh_usage_rollups(start=first, end=last)
        self._report("rollups", rollups, started)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    def _report(self, label: str, rows: int, started: float) -> None:
        took = time.monotonic() - started
        self.stdout.write(f"{label:>16}: {max(rows, 0):>10,} rows in {took:6.1f} s")
