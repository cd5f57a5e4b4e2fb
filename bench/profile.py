"""Profile one API call in-process, through the WSGI app gunicorn serves.

Usage (on a database filled by ``bench/prepare.py``, e.g. after
``BENCH_KEEP_DB=1 make bench``):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_bench \\
        .venv/bin/python bench/profile.py KEY [what] [n]

``what``: authorize, ingest1, ingest100, ingest1000 (any ``ingest<N>``),
allocate (a slot on the hot company, then its release) or allocate-spread
(over ``bench-co-<n>``). Settings as in the bench unless set: DEBUG=0, the
database task queue (tasks are enqueued, not run). Prints queries and ms per
call, then a pyinstrument profile of ``n`` calls (SHOW_SQL=1 lists the
queries, NO_PROFILE=1 skips the tree).
"""

import itertools
import json
import os
import sys
import time

import django

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-secret")
os.environ.setdefault("TASKS_BACKEND", "django_tasks_db.DatabaseBackend")
django.setup()

from django.core.signals import request_started  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

from config.wsgi import application  # noqa: E402

key, what = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "authorize"
n = int(sys.argv[3]) if len(sys.argv) > 3 else 20
accounts = int(os.environ.get("BENCH_ACCOUNTS", "1000"))
companies = int(os.environ.get("BENCH_COMPANIES", "100"))
factory = RequestFactory(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_HOST="127.0.0.1")
counter = itertools.count()
# Each request would empty the query log: count every request of a call.
request_started.disconnect(reset_queries)
run = f"p{int(time.time())}"
meters = ["bandwidth"] * 8 + ["transcoding", "storage"]


def send(method: str, path: str, body: dict | None = None) -> None:
    """One request through the WSGI application (the API's own handler)."""
    kwargs = {}
    if body is not None:
        kwargs = {"data": json.dumps(body), "content_type": "application/json"}
    environ = getattr(factory, method)(path, **kwargs).environ
    status = []
    response = application(environ, lambda s, headers, exc_info=None: status.append(s))
    content = b"".join(response)
    response.close()
    assert status[0].startswith("2"), f"{method} {path}: {status[0]} {content[:500]}"


def call() -> None:
    i = next(counter)
    if what == "authorize":
        send(
            "post",
            f"/api/v1/accounts/bench-u-{i * 7919 % accounts}/authorize",
            {"meter": "bandwidth", "quantity": 1000},
        )
    elif what.startswith("ingest"):
        size = int(what.removeprefix("ingest"))
        events = [
            {
                "id": f"{run}-{i}-{j}",
                "account": f"bench-u-{(i * 131 + j * 17) % accounts}",
                "meter": meters[(i * size + j) % 10],
                "quantity": 1000 + j,
            }
            for j in range(size)
        ]
        send("post", "/api/v1/usage/events", {"events": events})
    elif what in ("allocate", "slots", "allocate-spread"):
        company = "bench-co"
        if what == "allocate-spread":
            company = f"bench-co-{i % companies}"
        job = f"{run}-{i}"
        send("post", f"/api/v1/accounts/{company}/job-slots", {"job_id": job})
        send("delete", f"/api/v1/accounts/{company}/job-slots/{job}")
    else:
        sys.exit(f"unknown call {what!r}: authorize, ingest<N>, allocate[-spread]")


call()  # warm up
with CaptureQueriesContext(connection) as ctx:
    call()
print(f"{what}: {len(ctx.captured_queries)} queries per call")
if os.environ.get("SHOW_SQL"):
    for q in ctx.captured_queries:
        print("  ", q["sql"][:200])
profiler = Profiler()
start = time.perf_counter()
profiler.start()
for _ in range(n):
    call()
profiler.stop()
print(f"{what}: {(time.perf_counter() - start) * 1000 / n:.2f} ms per call")
if not os.environ.get("NO_PROFILE"):
    print(profiler.output_text(unicode=False, color=False, show_all=False))
