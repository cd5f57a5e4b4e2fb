"""Which database errors mean "cannot answer now, retry" rather than a bug.

PostgreSQL (psycopg) raises OperationalError for exactly the passing
conditions: a refused or dropped connection, too many clients, a server
shutting down, a lock wait or statement that hit its time limit. SQLite
raises OperationalError for those (a locked or unreadable file) but also for
mistakes in the schema or the SQL ("no such table"), which a retry would not
fix: those stay 500s, so they are seen and fixed.
"""

from django.db import InterfaceError, OperationalError

SQLITE_PASSING = (
    "database is locked",
    "database table is locked",
    "unable to open database",
    "disk i/o error",
    "database or disk is full",
    "attempt to write a readonly database",
    "interrupted",
)


def is_database_unavailable(exc: BaseException | None) -> bool:
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if cause is not None and type(cause).__module__.startswith("sqlite3"):
        return str(exc).lower().startswith(SQLITE_PASSING)
    return True
