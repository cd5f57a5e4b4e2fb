#!/usr/bin/env bash
# make bench: gunicorn on a fresh PostgreSQL database, driven by wrk on
# loopback, with a real task worker. Every figure is measured against a bare
# reference endpoint in the same run (bench/endpoints.py); each ingestion run
# is verified in the database; the run ends with the alert, authorize and
# cache verifications and a table (bench/results.py). Exit status 1 when a
# run had an error (non-2xx, socket errors) or a verification failed; missed
# targets are listed but do not fail it. Knobs: docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_DIR="$PWD/bench"

PG_URL_BASE=${BENCH_PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_DB:-billing_bench}
PORT=${BENCH_PORT:-8765}
WORKERS=${BENCH_WORKERS:-3}
WORKER_CLASS=${BENCH_WORKER_CLASS:-sync}
THREADS=${BENCH_THREADS:-4}
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  DURATION=${BENCH_DURATION:-3s}
else
  DURATION=${BENCH_DURATION:-10s}
fi
DRAIN_SECONDS=${BENCH_DRAIN_SECONDS:-60}
export BENCH_ACCOUNTS=${BENCH_ACCOUNTS:-1000}
export BENCH_COMPANIES=${BENCH_COMPANIES:-100}
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
# The production queue: gunicorn enqueues (alert evaluation, e-mails) in the
# database and a db_worker runs the tasks, as with `make worker`.
export TASKS_BACKEND=django_tasks_db.DatabaseBackend
export EMAIL_BACKEND=django.core.mail.backends.locmem.EmailBackend
export BENCH_URL="http://127.0.0.1:$PORT"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX")
export BENCH_RESULTS="$TMP/results"
: >"$BENCH_RESULTS"

GUNICORN="" WORKER=""
stop_worker() {
  if [ -n "$WORKER" ]; then
    kill -TERM "$WORKER" 2>/dev/null || true
    wait "$WORKER" 2>/dev/null || true
    WORKER=""
  fi
}
show_log() {  # NAME FILE: the tail of a server log, if it has errors in it
  if grep -qE 'Traceback|ERROR|CRITICAL' "$2" 2>/dev/null; then
    echo "-- $1 logged errors (last 30 lines):" >&2
    tail -n 30 "$2" >&2
  fi
}
cleanup() {
  stop_worker
  if [ -n "$GUNICORN" ]; then
    kill -TERM "$GUNICORN" 2>/dev/null || true
    wait "$GUNICORN" 2>/dev/null || true
  fi
  show_log gunicorn "$TMP/gunicorn.log"
  show_log "task worker" "$TMP/worker.log"
  if [ -z "${BENCH_KEEP_DB:-}" ]; then
    psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

figure() {  # NAME VALUE UNIT BASELINE TARGET (bench/results.py)
  printf 'figure\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$BENCH_RESULTS"
}
check() {  # NAME ok|FAIL DETAIL
  printf 'check\t%s\t%s\t%s\n' "$@" >>"$BENCH_RESULTS"
}
failures() { grep -c $'^check\t.*\tFAIL\t' "$BENCH_RESULTS" || true; }
# pycheck NAME SCRIPT [ARGS]: a Python check records its own result; one
# that dies before it could is recorded as failed here.
pycheck() {
  local name=$1 before
  shift
  before=$(failures)
  if ! $PY "$@"; then
    [ "$(failures)" -gt "$before" ] || check "$name" FAIL "$* died (see above)"
  fi
}

log "fresh database $DB; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
PGOPTIONS="-c client_min_messages=warning" \
  psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS $DB" -qc "CREATE DATABASE $DB" >/dev/null
$PY manage.py migrate --noinput -v0
BENCH_KEY=$($PY bench/prepare.py)
export BENCH_KEY

gunicorn_args=(--workers "$WORKERS" --worker-class "$WORKER_CLASS")
if [ "$WORKER_CLASS" = gthread ]; then
  gunicorn_args+=(--threads "$THREADS")
fi
log "gunicorn: ${gunicorn_args[*]} on 127.0.0.1:$PORT; wrk for $DURATION per figure"
.venv/bin/gunicorn config.wsgi:application --bind "127.0.0.1:$PORT" "${gunicorn_args[@]}" \
  --backlog 2048 --log-level warning --access-logfile /dev/null 2>"$TMP/gunicorn.log" &
GUNICORN=$!
for _ in $(seq 1 100); do
  curl -fsS "$BENCH_URL/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "$BENCH_URL/bench/bare" >/dev/null \
  || { cat "$TMP/gunicorn.log" >&2; echo "error: gunicorn did not serve /bench/bare" >&2; exit 1; }

# run NAME THREADS CONNECTIONS SCRIPT PATH: wrk for $DURATION, sets R_* from
# the RESULT line; errors are recorded as a failed check and the bench goes on.
run() {
  local name=$1 threads=$2 conns=$3 script=$4 path=$5 out line
  R_requests=0 R_seconds=1 R_rps=0 R_p50_ms=0 R_p99_ms=0 R_accepted=0 R_generated=0
  out=$(wrk -t"$threads" -c"$conns" -d"$DURATION" --timeout 30s --latency -s "bench/$script" \
    "$BENCH_URL$path" 2>"$TMP/$name.err") || true
  if ! line=$(grep '^RESULT' <<<"$out"); then
    echo "$out" >&2
    cat "$TMP/$name.err" >&2
    check "$name: no errors" FAIL "wrk printed no result"
    return
  fi
  eval "$(sed 's/^RESULT //; s/\([a-z0-9_]*\)=/R_\1=/g' <<<"$line")"
  if [ "$R_non2xx" != 0 ] || [ "$R_socket_errors" != 0 ]; then
    check "$name: no errors" FAIL "$R_non2xx non-2xx, $R_socket_errors socket errors"
    echo "error: $name had $R_non2xx non-2xx answers and $R_socket_errors socket errors" >&2
    sed 's/^/  /' "$TMP/$name.err" >&2
  else
    check "$name: no errors" ok "$R_requests requests"
  fi
}
per_second() { awk -v a="$1" -v s="$2" 'BEGIN { printf "%.1f", a / s }'; }
show() {  # NAME VALUE UNIT: one progress line per run
  printf '%-22s %9.0f %-8s p50 %7.2f ms  p99 %7.2f ms  %7d requests\n' \
    "$1" "$2" "$3" "$R_p50_ms" "$R_p99_ms" "$R_requests"
}

log "warm-up"
wrk -t1 -c2 -d1s "$BENCH_URL/bench/bare" >/dev/null
wrk -t1 -c2 -d1s "$BENCH_URL/healthz" >/dev/null

# The floor: no middleware, no key, no database.
run bare 1 8 get.lua /bench/bare
show bare "$R_rps" req/s
figure bare "$R_rps" req/s - -
run healthz 1 8 get.lua /healthz
show healthz "$R_rps" req/s
figure healthz "$R_rps" req/s bare '>=70%'

# Ingestion against the bare insert of the same batches, with the task
# worker running (for the alert latency). The bare insert writes to the
# bench-raw- accounts only: its rows bypass the counters.
log "task worker: manage.py db_worker"
$PY manage.py db_worker --no-startup-delay --interval 0.2 >"$TMP/worker.log" 2>&1 &
WORKER=$!
declare -A INGEST_TARGET=([1]=50 [100]=30 [1000]=40)
for BATCH in 1 100 1000; do
  export BENCH_BATCH=$BATCH
  BENCH_PREFIX=r$BATCH BENCH_ACCOUNT_PREFIX=bench-raw- \
    run "bare-insert x$BATCH" 1 4 ingest.lua /bench/bare-insert
  EPS=$(per_second "$R_accepted" "$R_seconds")
  show "bare-insert x$BATCH" "$EPS" events/s
  figure "bare-insert x$BATCH" "$EPS" events/s - -

  BENCH_PREFIX=s$BATCH BENCH_ACCOUNT_PREFIX=bench-u- \
    run "ingest x$BATCH" 1 4 ingest.lua /api/v1/usage/events
  EPS=$(per_second "$R_accepted" "$R_seconds")
  show "ingest x$BATCH" "$EPS" events/s
  figure "ingest x$BATCH" "$EPS" events/s "bare-insert x$BATCH" ">=${INGEST_TARGET[$BATCH]}%"
  # Exactly once; counters and levels = events.
  pycheck "exactly-once s$BATCH" bench/verify.py "s$BATCH" "$BATCH" "$R_accepted" "$R_generated"
done
unset BENCH_BATCH

# Alerts: the queue drained, then latency and completeness.
pycheck "task queue drained" bench/checks.py drain "$DRAIN_SECONDS"
pycheck "alerts" bench/checks.py alerts

# Let the database settle from a million inserts (autovacuum and checkpoint
# work would otherwise land on the next figures, not on ingestion).
log "settling: VACUUM ANALYZE, CHECKPOINT"
psql "$DATABASE_URL" -qc "VACUUM (ANALYZE)" -qc "CHECKPOINT" >/dev/null

# authorize, on accounts now near and over their limits, then the same
# answers as the quotas endpoint.
run authorize 1 8 authorize.lua /api/v1/accounts/x/authorize
show authorize "$R_rps" req/s
figure authorize "$R_rps" req/s bare '>=35%'
figure "authorize p99" "$R_p99_ms" ms - '<=20'
pycheck "authorize = quotas" bench/checks.py authorize

# Allocate + release: spread over the companies, then one hot company.
BENCH_PREFIX=js run "slots spread" 4 4 slots.lua /
show "slots $BENCH_COMPANIES companies" "$R_rps" req/s
figure "slots $BENCH_COMPANIES companies" "$R_rps" req/s bare '>=15%'
BENCH_PREFIX=jh BENCH_COMPANIES=0 run "slots hot" 4 4 slots.lua /
show "slots 1 hot company" "$R_rps" req/s
figure "slots 1 hot company" "$R_rps" req/s bare '>=4%'

# The caches against a rebuild, once nothing writes any more.
pycheck "task queue drained" bench/checks.py drain "$DRAIN_SECONDS"
stop_worker
pycheck "caches" bench/checks.py caches

log "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg);" \
  "gunicorn ${gunicorn_args[*]}; wrk on loopback, $DURATION per figure"
$PY bench/results.py "$BENCH_RESULTS"
