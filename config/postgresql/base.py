"""PostgreSQL backend whose connection health check costs no round trip.

Django checks a persistent connection before a request reuses it
(``CONN_HEALTH_CHECKS``) by running ``SELECT 1``: a round trip on every API
request, about a sixth of what ``authorize`` costs. An idle connection
receives nothing from the server unless the server is ending it (a restart,
``pg_terminate_backend``, an idle timeout all send an error and close the
socket), so a socket with something to read, or closed, is unusable: that
is checked with a zero-timeout ``select``. Not idle (mid-transaction) or in
doubt, Django's own check runs. No library does this for Django; pgbouncer
and psycopg's pool use the same idea.
"""

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != TransactionStatus.IDLE:
            return super().is_usable()
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable
