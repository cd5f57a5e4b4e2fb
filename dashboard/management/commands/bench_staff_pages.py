"""Time the staff analytics pages server-side (``make bench-staff``).

Each page is requested in-process through Django's test client as a staff
user, so the figure is the server's time for the whole request (middleware,
queries, template), without network or browser. Run it on a database loaded
by ``seed_volume``.
"""

import statistics
import time
from datetime import timedelta

from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from billing.permissions import VIEW_ANALYTICS

BUDGET_MS = 300


class Command(BaseCommand):
    help = "Time each staff analytics page (p50/p95/max server time, queries)."

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=15)

    def handle(self, *args, **options):
        user, _ = User.objects.get_or_create(
            email="bench-staff@example.com", defaults={"is_staff": True}
        )
        # The pages need their permission; with it, time them as staff see them.
        app_label, codename = VIEW_ANALYTICS.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
        client = Client()
        client.force_login(user)
        today = timezone.now().date()
        ranges = {
            "30 days": {"start": today - timedelta(days=29), "end": today},
            "365 days": {"start": today - timedelta(days=364), "end": today},
        }
        pages = [
            ("revenue per day", "dashboard:staff-revenue", {}),
            ("revenue per month", "dashboard:staff-revenue", {"grain": "month"}),
            ("popular packs", "dashboard:staff-packs", {}),
            ("usage patterns", "dashboard:staff-usage", {}),
            ("outstanding balances", "dashboard:staff-balances", {}),
        ]
        worst = 0.0
        for range_label, dates in ranges.items():
            for label, name, extra in pages:
                url, runs = reverse(name), options["runs"]
                times, queries = self._time(client, url, {**dates, **extra}, runs)
                p50 = statistics.median(times)
                p95 = (
                    statistics.quantiles(times, n=20, method="inclusive")[-1]
                    if len(times) > 1
                    else p50
                )
                worst = max(worst, p95)
                verdict = "ok" if p95 < BUDGET_MS else "OVER BUDGET"
                self.stdout.write(
                    f"{label:<22} {range_label:<9} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms"
                    f"  max {max(times):7.1f} ms  {queries:>2} queries  {verdict}"
                )
        self.stdout.write(f"worst p95 {worst:.1f} ms (budget {BUDGET_MS} ms)")

    def _time(self, client: Client, url: str, params: dict, runs: int):
        for _ in range(2):  # warm caches and connections
            assert client.get(url, params).status_code == 200
        times = []
        for _ in range(runs):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url, params)
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
        return times, len(captured)
