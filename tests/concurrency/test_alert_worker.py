"""Alerts reach the database through the real task worker process.

The usage write queues its alert evaluation in the same transaction (the
database queue); ``manage.py db_worker``, started here as a separate process
on the test database, runs it. A rolled-back write queues nothing.
"""

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from billing.models import Alert
from billing.services.usage import UsageEventInput, record_usage_events
from billing.units import GB
from tests.factories.billing import personal_account
from tests.processes import process_env

ROOT = Path(__file__).resolve().parents[2]
DATABASE_BACKEND = "django_tasks_db.DatabaseBackend"

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def database_queue(settings):
    settings.TASKS = {"default": {"BACKEND": DATABASE_BACKEND, "QUEUES": ["default"]}}


def _worker_env() -> dict[str, str]:
    return process_env(TASKS_BACKEND=DATABASE_BACKEND)


def run_worker_until_idle(timeout: float = 60) -> None:
    """The real worker, run until the queue is empty (``--batch``)."""
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--batch",
            "--no-reload",
            "--no-startup-delay",
            "--interval",
            "0.1",
        ],
        cwd=ROOT,
        env=_worker_env(),
        check=True,
        timeout=timeout,
        capture_output=True,
    )


def crossing(account, *, id: str) -> list[UsageEventInput]:
    return [
        UsageEventInput(
            id=id,
            account=account,
            meter="bandwidth",
            quantity=9 * GB // 2,
            timestamp=datetime(2026, 4, 16, 12, tzinfo=UTC),
        )
    ]


@pytest.mark.time_machine("2026-04-16 12:00Z")
def test_the_worker_raises_the_alert_a_usage_write_queued(database_queue):
    account = personal_account()

    record_usage_events(events=crossing(account, id="w-1"))

    # Queued with the write, not yet run: the request did not evaluate it.
    assert DBTaskResult.objects.filter(task_path__endswith="evaluate_alerts").exists()
    assert not Alert.objects.filter(account=account).exists()
    started = time.monotonic()
    run_worker_until_idle()
    assert time.monotonic() - started < 60
    kinds = list(Alert.objects.filter(account=account).values_list("kind", flat=True))
    assert kinds == ["warning_80"]  # 4.5 of 5 GB
    # The worker then e-mailed it: a second task, also run by the worker.
    assert Alert.objects.get(account=account).emailed_at is not None


@pytest.mark.time_machine("2026-04-16 12:00Z")
def test_a_rolled_back_write_queues_nothing(database_queue):
    account = personal_account()

    with pytest.raises(RuntimeError), transaction.atomic():
        record_usage_events(events=crossing(account, id="w-2"))
        raise RuntimeError("the caller's transaction fails after the write")

    assert not DBTaskResult.objects.exists()
    run_worker_until_idle()
    assert not Alert.objects.filter(account=account).exists()
