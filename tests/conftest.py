import importlib
import os
from datetime import datetime
from pathlib import Path

import pytest
import time_machine

# BILLING_TEST_NOW pins the clock for the whole run (see _pinned_clock).
PIN_ENV = "BILLING_TEST_NOW"
# Live-server and threaded tests run on the real clock only: a pinned clock
# would be shared by the server and worker threads mid-test.
TESTS_DIR = Path(__file__).parent
UNPINNED_DIRS = (TESTS_DIR / "e2e", TESTS_DIR / "concurrency")


def _pinned_now() -> datetime | None:
    raw = os.environ.get(PIN_ENV, "").strip()
    if not raw:
        return None
    try:
        instant = datetime.fromisoformat(raw)
    except ValueError as error:
        msg = f"{PIN_ENV}={raw!r} is not an ISO-8601 instant"
        raise pytest.UsageError(msg) from error
    if instant.tzinfo is None:
        raise pytest.UsageError(f"{PIN_ENV}={raw!r} needs a UTC offset, e.g. +00:00")
    return instant


def pytest_configure(config):
    """With BILLING_TEST_NOW set, travel there before the test database exists.

    Rows written while the database is built (migrations, the seed) then
    carry the pinned date too, not the real one.
    """
    config.billing_now = _pinned_now()
    config.billing_clock = None
    if config.billing_now is not None:
        config.billing_clock = time_machine.travel(config.billing_now, tick=True)
        config.billing_clock.start()


def pytest_unconfigure(config):
    clock = getattr(config, "billing_clock", None)
    if clock is not None:
        clock.stop()


def pytest_collection_modifyitems(config, items):
    if config.billing_now is None:
        return
    skip = pytest.mark.skip(reason=f"runs on the real clock only, not with {PIN_ENV}")
    for item in items:
        unpinned_dir = any(item.path.is_relative_to(d) for d in UNPINNED_DIRS)
        if unpinned_dir or "live_server" in item.fixturenames:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _pinned_clock(request):
    """Start the test at its ``time_machine`` marker, else at BILLING_TEST_NOW.

    ``@pytest.mark.time_machine(datetime(2026, 4, 16, 12, tzinfo=UTC))`` pins
    a test whose outcome depends on the date. Being autouse, the travel starts
    before the test's other fixtures create rows. (time-machine 2.19+ also
    travels for this marker; doing it here too keeps 2.16-2.18 working, and
    both land on the same instant.) The clock ticks from the instant, so each
    test begins there however long the run takes; a time_machine.travel
    inside a test nests and wins until it exits.
    """
    marker = request.node.get_closest_marker("time_machine")
    if marker is not None:
        traveller = time_machine.travel(*marker.args, **marker.kwargs)
    elif request.config.billing_now is not None:
        traveller = time_machine.travel(request.config.billing_now, tick=True)
    else:
        yield
        return
    with traveller:
        yield


@pytest.fixture
def seeded_catalogue(transactional_db):
    """Put back the meters, Free plan and packs of the seed migration.

    A transactional test ends with a flush that empties every table, data
    migrations' rows included (and ``--reuse-db`` keeps that empty database),
    so the next one would find no plan for a new user. The seed is
    idempotent; transactional tests run it first.
    """
    from django.apps import apps

    seed = importlib.import_module("billing.migrations.0002_seed_catalogue").seed
    seed(apps, None)


@pytest.fixture(autouse=True)
def _append_only_tables_flushable(request):
    """Let a transactional test's closing flush empty the append-only tables
    (the audit trail, issued documents) on SQLite.

    The flush empties tables with DELETE there, which the append-only guards
    refuse (PostgreSQL flushes with TRUNCATE, which row triggers never see).
    Just before the flush, the rows go with the guards lifted for those
    statements; the guards are back before the next test.
    """
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if not transactional:
        yield
        return
    request.getfixturevalue("transactional_db")  # so this teardown runs first
    yield
    from django.db import connection, transaction

    if connection.vendor != "sqlite":
        return
    audit = importlib.import_module("billing.migrations.0009_audit_triggers")
    documents = importlib.import_module("billing.migrations.0013_document_triggers")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(audit.SQLITE_BACKWARD[1])
        cursor.execute("DELETE FROM billing_auditentry")
        cursor.execute(audit.SQLITE_FORWARD[1])
        for table in documents.TABLES:
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
            cursor.execute(f"DELETE FROM {table}")
            cursor.execute(documents.sqlite_no_delete(table))


@pytest.fixture(autouse=True)
def _fast_test_settings(settings):
    """Fast hashing, e-mail kept in memory, tasks run in-process.

    Invoice e-mails (a PDF rendered per sale) are off unless a test turns
    them on: tests/billing/services/test_documents.py does.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.BILLING_EMAIL_INVOICES = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.BILLING_SANDBOX_DECLINE = False
    settings.TASKS = {
        "default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}
    }
    # Webhook receivers in tests listen on loopback.
    settings.BILLING_WEBHOOK_PRIVATE_HOSTS = ["127.0.0.0/8", "::1", "localhost"]


def pytest_report_header(config):
    """Say which database the suite runs on; .ci/run checks this line.

    With BILLING_TEST_NOW set, a second line names the pinned instant.
    """
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    lines = [f"database: {engine}"]
    if config.billing_now is not None:
        lines.append(f"clock pinned: {config.billing_now.isoformat()} ({PIN_ENV})")
    return lines


@pytest.fixture
def pdf_renderer():
    """Skip, saying why, where WeasyPrint's system libraries are missing;
    in CI ($CI set) fail instead: CI must render PDFs."""
    from billing.pdf import pdf_available

    if not pdf_available():
        reason = "WeasyPrint cannot load Pango (apt-get install libpango-1.0-0)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must render PDFs: {reason}")
        pytest.skip(reason)


@pytest.fixture
def receiver():
    """A real HTTP server on loopback that records webhook requests."""
    from tests.receiver import Receiver

    started = Receiver().start()
    yield started
    started.stop()
