#!/usr/bin/env bash
# Staff analytics at volume: a fresh PostgreSQL database loaded by seed_volume
# (10,000 accounts, 1,000,000 events, a year of snapshots, 100,000 charges),
# then each staff page timed server-side. Knobs: BENCH_PG_URL_BASE,
# BENCH_STAFF_DB, KEEP_BENCH_DB=1 (reuse a loaded database), SEED_VOLUME_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
BASE=${BENCH_PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_STAFF_DB:-billing_bench_staff}
export DATABASE_URL="$BASE/$DB" DEBUG=0 SECRET_KEY=bench-only ALLOWED_HOSTS=testserver

pg_isready -q -h 127.0.0.1 -p 5432 || { echo "error: PostgreSQL is not running on 127.0.0.1:5432" >&2; exit 1; }
if [ "${KEEP_BENCH_DB:-0}" != 1 ]; then
  psql "$BASE/postgres" -qc "DROP DATABASE IF EXISTS $DB" -qc "CREATE DATABASE $DB" >/dev/null
fi
$PY manage.py migrate --noinput -v0
echo "== seed_volume ${SEED_VOLUME_ARGS:-}"
# shellcheck disable=SC2086
$PY manage.py seed_volume ${SEED_VOLUME_ARGS:-}
echo "== staff pages (server time, in-process)"
$PY manage.py bench_staff_pages
