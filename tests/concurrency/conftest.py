"""Run a service from many threads at once, each on its own connection.

Every thread opens its database connection, waits at a barrier so all of them
call the service together, records what it returned or raised, and closes
its connection. Tests then assert the invariant from the database and from
the collected outcomes, never from timing. Nothing a thread raises is lost:
``Outcomes.assert_only`` fails with the tracebacks of unexpected errors.
"""

import threading
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection

JOIN_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Outcome:
    index: int
    result: Any = None
    error: BaseException | None = None


class Outcomes(list[Outcome]):
    @property
    def results(self) -> list[Any]:
        return [o.result for o in self if o.error is None]

    @property
    def errors(self) -> list[BaseException]:
        return [o.error for o in self if o.error is not None]

    def error_types(self) -> Counter[type[BaseException]]:
        return Counter(type(error) for error in self.errors)

    def assert_only(self, *allowed: type[BaseException]) -> None:
        """Fail, with tracebacks, if any thread raised something not allowed."""
        unexpected = [e for e in self.errors if not isinstance(e, allowed)]
        if unexpected:
            shown = "\n".join(
                "".join(traceback.format_exception(e)) for e in unexpected[:3]
            )
            raise AssertionError(
                f"{len(unexpected)} thread(s) raised unexpected errors "
                f"{Counter(type(e).__name__ for e in unexpected)}:\n{shown}"
            )


def run_concurrently(
    fn: Callable[[int], Any], *, threads: int, timeout: float = JOIN_TIMEOUT
) -> Outcomes:
    """Call ``fn(i)`` for i in range(threads), all released by one barrier."""
    barrier = threading.Barrier(threads)
    outcomes: list[Outcome | None] = [None] * threads

    def work(index: int) -> None:
        try:
            # Connect before the barrier so set-up time does not stagger starts.
            connection.ensure_connection()
            barrier.wait(timeout=timeout)
            outcomes[index] = Outcome(index, result=fn(index))
        except BaseException as error:  # noqa: BLE001 - reported by the test
            outcomes[index] = Outcome(index, error=error)
        finally:
            connection.close()

    workers = [
        threading.Thread(target=work, args=(i,), name=f"race-{i}", daemon=True)
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=timeout)
    stuck = [worker.name for worker in workers if worker.is_alive()]
    assert not stuck, f"threads still running after {timeout}s (deadlock?): {stuck}"
    return Outcomes(o for o in outcomes if o is not None)


@pytest.fixture(name="run_concurrently")
def run_concurrently_fixture() -> Callable[..., Outcomes]:
    return run_concurrently


@pytest.fixture(autouse=True)
def _shared_real_database(django_db_setup):
    """Threads need a database they can all open: skip on in-memory SQLite.

    Django's SQLite test database is in memory (shared cache) unless
    DATABASES["default"]["TEST"]["NAME"] names a file; shared-cache
    connections fail at once with "database table is locked" instead of
    queueing on the busy timeout. PostgreSQL, and SQLite with a test database
    file (IMMEDIATE transactions then queue writers), always run.
    """
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip(
            "concurrency tests need a real database file: Django's SQLite test "
            "database is in memory (set DATABASES['default']['TEST']['NAME'] to "
            "a file, or run with DATABASE_URL=postgres://...)"
        )


@pytest.fixture(autouse=True)
def _seeded_catalogue(_shared_real_database, seeded_catalogue):
    """Each concurrency test starts from the seeded catalogue."""
