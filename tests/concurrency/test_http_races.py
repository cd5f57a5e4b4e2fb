"""Races through real HTTP: a live server, many client threads, PostgreSQL.

Each thread has its own keep-alive session and the server answers on its own
threads and connections, so the row locks of the services are what keeps
the invariants: no slot beyond the limit, no event counted twice.
"""

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connection
from django.test.testcases import LiveServerThread, _StaticFilesHandler

from billing.models import Account, JobSlot, UsageCounter, UsageEvent
from billing.services.api_keys import create_api_key
from tests.factories.billing import GrantFactory, PlatformAccountFactory, meter

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("HTTP races need PostgreSQL (run with DATABASE_URL=postgres://…)")


class _WideBacklogServer(ThreadedWSGIServer):
    """Django's test server listens with a backlog of 10: 50 clients that
    connect at once would see resets instead of queueing."""

    request_queue_size = 128


class _ServerThread(LiveServerThread):
    server_class = _WideBacklogServer


@pytest.fixture
def server_url(transactional_db) -> Iterator[str]:
    """A live server of its own (not the shared one) with a wide backlog."""
    thread = _ServerThread("127.0.0.1", _StaticFilesHandler)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()


def send_together(call, *, clients: int) -> list[requests.Response]:
    """``call(i)`` from ``clients`` threads released by one barrier.

    Unlike ``run_concurrently`` the clients open no database connection:
    only the server's request threads use PostgreSQL (max_connections).
    """
    barrier = threading.Barrier(clients)

    def work(i: int) -> requests.Response:
        barrier.wait(timeout=30)
        return call(i)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(work, range(clients)))


@pytest.fixture
def http(server_url):
    headers = {"Authorization": f"Bearer {create_api_key(name='races').raw_key}"}

    def call(method: str, path: str, body=None) -> requests.Response:
        with requests.Session() as session:
            return session.request(
                method, server_url + path, json=body, headers=headers, timeout=60
            )

    return call


def test_fifty_allocations_for_three_free_slots_give_three_201s(http):
    company = PlatformAccountFactory(external_id="race-co", kind=Account.Kind.COMPANY)
    GrantFactory(account=company, meter=meter("job_slots"), amount=1)  # 2 + 1

    responses = send_together(
        lambda i: http(
            "POST", "/api/v1/accounts/race-co/job-slots", {"job_id": f"job-{i}"}
        ),
        clients=50,
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 3 + [409] * 47
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "quota_exceeded"
    }
    assert company.job_slots.filter(status=JobSlot.Status.ACTIVE).count() == 3
    assert company.job_slots.count() == 3


def test_one_batch_sent_ten_times_at_once_is_counted_once(http):
    account = PlatformAccountFactory(external_id="race-u")
    events = [
        {
            "id": f"race-evt-{i}",
            "account": "race-u",
            "meter": "bandwidth",
            "quantity": 1000 + i,
        }
        for i in range(200)
    ]

    responses = send_together(
        lambda i: http("POST", "/api/v1/usage/events", {"events": events}),
        clients=10,
    )

    assert [r.status_code for r in responses] == [200] * 10
    bodies = [r.json() for r in responses]
    assert sum(b["accepted"] for b in bodies) == len(events)
    assert sum(b["duplicates"] for b in bodies) == 9 * len(events)
    assert UsageEvent.objects.filter(account=account).count() == len(events)
    counter = UsageCounter.objects.get(account=account, meter=meter("bandwidth"))
    assert counter.used == sum(e["quantity"] for e in events)
