#!/usr/bin/env bash
# make bench: gunicorn on a fresh PostgreSQL database, driven by wrk on
# loopback. Prints one line per figure with its ratio to /healthz measured
# in the same run, then verifies every accepted event was stored once.
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_DIR="$PWD/bench"

PG_URL_BASE=${BENCH_PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_DB:-billing_bench}
PORT=${BENCH_PORT:-8765}
WORKERS=${BENCH_WORKERS:-3}
DURATION=${BENCH_DURATION:-10s}
export BENCH_ACCOUNTS=${BENCH_ACCOUNTS:-1000}
PY=.venv/bin/python

if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "wrk is missing: installing Debian's wrk" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    echo "error: wrk is not installed. Install it with: sudo apt-get install wrk" >&2
    exit 1
  fi
fi
command -v psql >/dev/null || { echo "error: psql (PostgreSQL client) is required" >&2; exit 1; }
psql "$PG_URL_BASE/postgres" -qAtc 'select 1' >/dev/null \
  || { echo "error: PostgreSQL is not reachable at $PG_URL_BASE" >&2; exit 1; }

log() { printf '== %s\n' "$*" >&2; }

export DATABASE_URL="$PG_URL_BASE/$DB" BENCH=1 DEBUG=0 LOG_LEVEL=WARNING
export SECRET_KEY=bench-only-secret ALLOWED_HOSTS=127.0.0.1
# Alert e-mails go to a task worker in production, not into the request:
# the dummy backend keeps them out of the measured path (alerts are still
# raised and stored by the request, as in production).
export TASKS_BACKEND=${BENCH_TASKS_BACKEND:-django.tasks.backends.dummy.DummyBackend}
export BENCH_URL="http://127.0.0.1:$PORT"

log "Fresh database $DB"
psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS $DB" -qc "CREATE DATABASE $DB" >/dev/null
$PY manage.py migrate --noinput -v0
BENCH_KEY=$($PY bench/prepare.py)
export BENCH_KEY

log "gunicorn: $WORKERS sync workers on 127.0.0.1:$PORT"
.venv/bin/gunicorn config.wsgi:application --bind "127.0.0.1:$PORT" \
  --workers "$WORKERS" --worker-class sync --backlog 2048 \
  --log-level warning --access-logfile /dev/null &
GUNICORN=$!
cleanup() {
  kill "$GUNICORN" 2>/dev/null || true
  wait "$GUNICORN" 2>/dev/null || true
  if [ -z "${BENCH_KEEP_DB:-}" ]; then
    psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
for _ in $(seq 1 50); do
  curl -fsS "$BENCH_URL/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

# run NAME THREADS CONNECTIONS SCRIPT PATH -> sets R_* from the RESULT line
run() {
  local name=$1 threads=$2 conns=$3 script=$4 path=$5 out
  out=$(wrk -t"$threads" -c"$conns" -d"$DURATION" --timeout 30s --latency -s "bench/$script" \
    "$BENCH_URL$path" 2>"/tmp/bench-$name.err")
  local line
  line=$(grep '^RESULT' <<<"$out") || { echo "$out" >&2; cat "/tmp/bench-$name.err" >&2; exit 1; }
  eval "$(sed 's/^RESULT //; s/\([a-z0-9_]*\)=/R_\1=/g' <<<"$line")"
  if [ "$R_errors" != 0 ]; then
    echo "error: $name had $R_errors errors" >&2
    cat "/tmp/bench-$name.err" >&2
    exit 1
  fi
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / b }'; }

log "warm-up"
wrk -t1 -c2 -d2s "$BENCH_URL/healthz" >/dev/null

run healthz 1 8 get.lua /healthz
HEALTHZ=$R_rps
printf 'healthz            %8.0f req/s   p50 %6.2f ms  p99 %6.2f ms  (baseline, 100%%)\n' \
  "$R_rps" "$R_p50_ms" "$R_p99_ms"

run authorize 1 8 authorize.lua /api/v1/accounts/x/authorize
printf 'authorize          %8.0f req/s   p50 %6.2f ms  p99 %6.2f ms  %s of healthz (target >= 50%%)\n' \
  "$R_rps" "$R_p50_ms" "$R_p99_ms" "$(ratio "$R_rps" "$HEALTHZ")"

for BATCH in 100 1000; do
  export BENCH_BATCH=$BATCH
  BENCH_PREFIX=raw$BATCH BENCH_PATH=/api/v1/bench/raw-insert \
    run "raw$BATCH" 1 4 ingest.lua /api/v1/bench/raw-insert
  RAW=$(awk -v a="$R_accepted" -v s="$R_seconds" 'BEGIN { print a / s }')
  printf 'raw insert  x%-4d  %8.0f events/s (%6.0f req/s = %s of healthz)  bare INSERT ... ON CONFLICT DO NOTHING\n' \
    "$BATCH" "$RAW" "$R_rps" "$(ratio "$R_rps" "$HEALTHZ")"

  BENCH_PREFIX=s$BATCH BENCH_PATH=/api/v1/usage/events \
    run "ingest$BATCH" 1 4 ingest.lua /api/v1/usage/events
  EPS=$(awk -v a="$R_accepted" -v s="$R_seconds" 'BEGIN { print a / s }')
  target=""
  [ "$BATCH" = 1000 ] && target=" (targets: >= 40000 events/s, >= 40% of raw)"
  printf 'ingest      x%-4d  %8.0f events/s (%6.0f req/s = %s of healthz)  %s of raw insert%s\n' \
    "$BATCH" "$EPS" "$R_rps" "$(ratio "$R_rps" "$HEALTHZ")" "$(ratio "$EPS" "$RAW")" "$target"
  $PY bench/verify.py "s$BATCH" "$BATCH" "$R_accepted" "$R_generated"
done

BENCH_PREFIX=job run slots 4 4 slots.lua /api/v1/accounts/bench-co/job-slots
printf 'allocate+release   %8.0f pairs/s  p50 %6.2f ms  p99 %6.2f ms  (%s of healthz in requests)\n' \
  "$(awk -v r="$R_rps" 'BEGIN { print r / 2 }')" "$R_p50_ms" "$R_p99_ms" "$(ratio "$R_rps" "$HEALTHZ")"
log "zero errors in every run; $(nproc) cores, $WORKERS gunicorn workers, wrk on loopback, $DURATION per figure"
