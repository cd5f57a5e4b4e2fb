"""A persistent connection the server ended is found without a round trip."""

import time

import pytest
from django.db import connection

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the backend is PostgreSQL's"
    ),
]


def test_an_idle_connection_is_usable_and_an_ended_one_is_not():
    other = connection.copy()
    other.ensure_connection()
    try:
        assert other.is_usable()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(%s)", [other.connection.info.backend_pid]
            )
        for _ in range(50):  # the server's goodbye takes a moment to arrive
            if not other.is_usable():
                break
            time.sleep(0.02)
        assert not other.is_usable()
    finally:
        other.close()


def test_a_connection_mid_transaction_gets_the_full_check():
    other = connection.copy()
    other.ensure_connection()
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:
            cursor.execute("SELECT 1")
        assert other.is_usable()  # SELECT 1 inside the open transaction
    finally:
        other.rollback()
        other.close()
