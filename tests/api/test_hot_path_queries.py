"""Query counts of the platform's hot paths, pinned (as Zulip pins its own).

authorize and usage ingestion are called on every request the platform
serves, so each query they add costs at scale. The counts include the API
key lookup and the savepoints pytest-django's test transaction turns
``atomic`` blocks into; work deferred until after commit (alert evaluation,
e-mails) does not run in these tests and is not counted.

Ingestion is pinned per database: on PostgreSQL one statement inserts the
events and adds them to the counters, while the portable path SQLite takes
reads the known ids, levels and totals before it writes, then reads the
totals back for the alert screen.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from billing.services.usage import UsageEventInput, record_usage_events
from billing.units import GB
from tests.factories.billing import PlatformAccountFactory

AT = datetime(2026, 4, 16, 12, tzinfo=UTC)

pytestmark = [pytest.mark.django_db, pytest.mark.time_machine(AT)]

EVENTS_URL = "/api/v1/usage/events"
AUTHORIZE_MAX_QUERIES = 1
# (PostgreSQL, SQLite)
BATCH_MAX_QUERIES = {"postgresql": 7, "sqlite": 19}
SINGLE_EVENT_MAX_QUERIES = {"postgresql": 5, "sqlite": 15}


# Well under the Free plan's 5 GB, 2 GB and 60 minutes.
ORDINARY_USAGE = {"bandwidth": GB, "storage": GB, "transcoding": 600}


def ordinary_usage(account) -> None:
    """Some usage of each event-based meter two days before AT."""
    record_usage_events(
        events=[
            UsageEventInput(
                id=f"{account.external_id}-{code}",
                account=account,
                meter=code,
                quantity=quantity,
                timestamp=AT - timedelta(days=2),
            )
            for code, quantity in ORDINARY_USAGE.items()
        ],
        received_at=AT,
    )


def test_authorize_takes_three_queries_with_the_key_lookup(
    api, django_assert_max_num_queries
):
    account = PlatformAccountFactory(external_id="hot-1")
    ordinary_usage(account)

    with django_assert_max_num_queries(AUTHORIZE_MAX_QUERIES):
        response = api.post(
            "/api/v1/accounts/hot-1/authorize",
            {"meter": "bandwidth", "quantity": GB},
        )

    assert response.status_code == 200, response.content
    assert response.json()["allowed"] is True


def test_a_batch_of_a_hundred_events_over_twenty_accounts_takes_a_fixed_count(
    api, django_assert_max_num_queries
):
    accounts = [PlatformAccountFactory(external_id=f"hot-{n}") for n in range(20)]
    for account in accounts:
        ordinary_usage(account)
    meters = ("bandwidth", "storage", "transcoding")  # each account gets all three
    events = [
        {
            "id": f"batch-{i}",
            "account": accounts[i % 20].external_id,
            "meter": meters[i % 3],
            "quantity": 1 + i % 7 if meters[i % 3] == "transcoding" else 10**6 + i,
        }
        for i in range(100)
    ]

    with django_assert_max_num_queries(BATCH_MAX_QUERIES[connection.vendor]):
        response = api.post(EVENTS_URL, {"events": events})

    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 100, "duplicates": 0}


def test_a_single_event_takes_a_fixed_count(api, django_assert_max_num_queries):
    account = PlatformAccountFactory(external_id="hot-1")
    ordinary_usage(account)
    event = {"id": "one", "account": "hot-1", "meter": "bandwidth", "quantity": GB}

    with django_assert_max_num_queries(SINGLE_EVENT_MAX_QUERIES[connection.vendor]):
        response = api.post(EVENTS_URL, {"events": [event]})

    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 1, "duplicates": 0}
