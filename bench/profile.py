"""Profile the API in-process (Django test client) on a prepared bench DB.

Usage: DATABASE_URL=... BENCH=1 .venv/bin/python bench/profile.py KEY [what] [n]
``what`` is authorize, ingest1000, ingest100 or slots. Prints ms per call and
queries per call, then a pyinstrument profile of the run.
"""

import itertools
import json
import os
import sys
import time

import django

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

key, what = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "authorize"
n = int(sys.argv[3]) if len(sys.argv) > 3 else 20
client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
counter = itertools.count()
run = f"p{int(time.time())}"
meters = ["bandwidth"] * 8 + ["transcoding", "storage"]


def call() -> None:
    i = next(counter)
    if what == "authorize":
        r = client.post(
            f"/api/v1/accounts/bench-u-{i % 1000}/authorize",
            {"meter": "bandwidth", "quantity": 1000},
            content_type="application/json",
        )
    elif what.startswith("ingest"):
        size = int(what.removeprefix("ingest"))
        events = [
            {
                "id": f"{run}-{i}-{j}",
                "account": f"bench-u-{(i * 131 + j * 17) % 1000}",
                "meter": meters[j % 10],
                "quantity": 1000 + j,
            }
            for j in range(size)
        ]
        r = client.post(
            "/api/v1/usage/events",
            json.dumps({"events": events}),
            content_type="application/json",
        )
    else:
        job = f"{run}-{i}"
        r = client.post(
            "/api/v1/accounts/bench-co/job-slots",
            {"job_id": job},
            content_type="application/json",
        )
        assert r.status_code < 300, r.content
        r = client.delete(f"/api/v1/accounts/bench-co/job-slots/{job}")
    assert r.status_code < 300, r.content


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
