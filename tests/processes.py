"""Run the project's real processes (worker, gunicorn) on the test database."""

import os
import socket

from django.db import connection


def process_env(**extra: str) -> dict[str, str]:
    """The environment of a child process that uses this test's database."""
    env = dict(os.environ, DEBUG="1", **extra)
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        )
    else:
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(db["NAME"])
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
