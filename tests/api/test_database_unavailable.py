"""A database that cannot answer is 503 with Retry-After, never 500; nothing is written.

Real failures, not mocks: the connection is pointed at a port where nothing
listens (or, on SQLite, a file that cannot exist), and a lock is held by a
second connection until the request's wait gives up.
"""

import re
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from billing.models import Account, JobSlot
from config.db_errors import is_database_unavailable
from tests.factories.accounts import UserFactory
from tests.factories.billing import PlatformAccountFactory
from tests.processes import free_port, process_env

from .conftest import error_of

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("seeded_catalogue"),
]


@contextmanager
def database_unreachable():
    """Every new connection of this thread fails until the block ends."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "postgresql":
        connection.settings_dict["PORT"] = str(free_port())
    else:
        connection.settings_dict["NAME"] = "/nonexistent-directory/db.sqlite3"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@contextmanager
def short_lock_waits():
    """The request's connection gives up on a lock after 300 ms (the web
    default is a few seconds; the test need not wait that long)."""
    options = connection.settings_dict.setdefault("OPTIONS", {})
    saved = dict(options)
    connection.close()
    if connection.vendor == "postgresql":
        options["options"] = "-c lock_timeout=300ms"
    else:
        options["timeout"] = 0.3
    try:
        yield
    finally:
        connection.close()
        options.clear()
        options.update(saved)


@contextmanager
def account_row_held(account: Account):
    """Another connection holds the account row (and, on SQLite, the write
    lock) inside an open transaction until the block ends."""
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Account.objects.select_for_update().filter(pk=account.pk).update(
                    name=account.name
                )
                held.set()
                done.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(10)
    try:
        yield
    finally:
        done.set()
        thread.join(10)


def _assert_503(response) -> None:
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0


def test_an_unreachable_database_is_a_503_envelope_for_the_api(api_key):
    PlatformAccountFactory(external_id="acme")
    client = Client(headers={"Authorization": f"Bearer {api_key.raw_key}"})
    with database_unreachable():
        response = client.post(
            "/api/v1/accounts/acme/authorize",
            data={"meter": "bandwidth", "quantity": 1},
            content_type="application/json",
        )
    _assert_503(response)
    assert error_of(response)["code"] == "service_unavailable"


def test_an_unreachable_database_is_a_styled_503_page_for_the_dashboard():
    user = UserFactory()
    client = Client(raise_request_exception=False)
    client.force_login(user)
    with database_unreachable():
        response = client.get("/")
    _assert_503(response)
    page = response.content.decode()
    assert "Busy for a moment" in page
    assert "nothing was changed" in page


@pytest.fixture
def role_out_of_connections():
    """A PostgreSQL role allowed no connections: the server's "too many
    connections" answer, as when every slot of max_connections is taken."""
    if connection.vendor != "postgresql":
        pytest.skip("connection limits are a PostgreSQL setting")
    with connection.cursor() as cursor:
        cursor.execute("DROP ROLE IF EXISTS billing_full_role")
        cursor.execute("CREATE ROLE billing_full_role LOGIN CONNECTION LIMIT 0")
    yield "billing_full_role"
    with connection.cursor() as cursor:
        cursor.execute("DROP ROLE IF EXISTS billing_full_role")


def test_a_database_out_of_connections_is_503(api_key, role_out_of_connections):
    PlatformAccountFactory(external_id="acme")
    client = Client(headers={"Authorization": f"Bearer {api_key.raw_key}"})
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["USER"] = role_out_of_connections
    try:
        response = client.get("/api/v1/accounts/acme/quotas")
    finally:
        connection.close()
        connection.settings_dict.update(saved)
    _assert_503(response)
    assert error_of(response)["code"] == "service_unavailable"


def test_a_lock_wait_that_times_out_is_503_and_allocates_nothing(api_key):
    account = PlatformAccountFactory(external_id="acme", kind=Account.Kind.COMPANY)
    client = Client(headers={"Authorization": f"Bearer {api_key.raw_key}"})
    with short_lock_waits(), account_row_held(account):
        response = client.post(
            "/api/v1/accounts/acme/job-slots",
            data={"job_id": "job-1"},
            content_type="application/json",
        )
    _assert_503(response)
    assert error_of(response)["code"] == "service_unavailable"
    assert not JobSlot.objects.exists()
    # Once the lock is gone the same request succeeds.
    response = client.post(
        "/api/v1/accounts/acme/job-slots",
        data={"job_id": "job-1"},
        content_type="application/json",
    )
    assert response.status_code == 201


def test_a_mistake_in_the_sql_is_a_bug_not_a_busy_database():
    """SQLite says "no such table" with the same exception class as "database
    is locked"; only the passing conditions may become a retryable 503."""
    with pytest.raises(DatabaseError) as raised, connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")
    assert not is_database_unavailable(raised.value)


def _milliseconds(duration: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(ms|s|min|h)?", duration).groups()
    return (
        int(number) * {"ms": 1, None: 1, "s": 1000, "min": 60_000, "h": 3_600_000}[unit]
    )


def test_web_connections_carry_the_configured_time_limits(settings):
    if connection.vendor != "postgresql":
        pytest.skip("session time limits are a PostgreSQL setting")
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, setting::bigint FROM pg_settings WHERE name = ANY(%s)",
            [list(settings.DB_TIMEOUTS)],
        )
        in_force = dict(cursor.fetchall())
    configured = {
        name: _milliseconds(value) for name, value in settings.DB_TIMEOUTS.items()
    }
    assert in_force == configured
    assert all(configured.values())  # on by default, every one of them


def test_management_commands_run_without_the_web_time_limits():
    if connection.vendor != "postgresql":
        pytest.skip("session time limits are a PostgreSQL setting")
    script = (
        "from django.db import connection\n"
        "with connection.cursor() as c:\n"
        "    c.execute('SHOW lock_timeout')\n"
        "    print(c.fetchone()[0])\n"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "0"
