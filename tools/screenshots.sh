#!/usr/bin/env bash
# Fresh demo database -> dev server on a spare port -> PNGs in docs/screenshots.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT=${SCREENSHOT_PORT:-8765}
OUT=${SCREENSHOT_DIR:-docs/screenshots}
[ -x /usr/bin/chromium ] || { echo "error: needs Debian's Chromium (apt-get install chromium)" >&2; exit 1; }

work=$(mktemp -d)
export SQLITE_PATH="$work/demo.sqlite3"
unset DATABASE_URL
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

$PY manage.py migrate --noinput -v0
$PY manage.py seed_demo >/dev/null
$PY manage.py runserver "127.0.0.1:$PORT" --noreload >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 150); do
  curl -fs -o /dev/null "http://127.0.0.1:$PORT/login/" && break
  sleep 0.2
done
$PY tools/screenshots.py "http://127.0.0.1:$PORT" "$OUT"
