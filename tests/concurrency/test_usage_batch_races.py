"""The same batches sent at once, ids in opposite orders.

Event ids are scoped to their account, so batches of different accounts
never collide; two copies of one account's batch queue on its lock and the
second finds every id a duplicate. Ids go in sorted order, so batches
listing them in opposite orders cannot deadlock.
"""

import pytest

from billing.models import UsageCounter, UsageEvent
from billing.services.usage import UsageEventInput, record_usage_events
from tests.factories.billing import personal_account

pytestmark = pytest.mark.django_db(transaction=True)


def test_shared_ids_in_opposite_orders_are_stored_once_per_account(run_concurrently):
    accounts = [personal_account() for _ in range(4)]
    ids = [f"shared-{i}" for i in range(60)]

    def send(i: int):
        order = ids if i % 2 else list(reversed(ids))
        return record_usage_events(
            events=[
                UsageEventInput(
                    id=event_id, account=accounts[i // 2], meter="bandwidth", quantity=7
                )
                for event_id in order
            ]
        )

    outcomes = run_concurrently(send, threads=8)

    outcomes.assert_only()
    results = sorted((r.accepted, r.duplicates) for r in outcomes.results)
    assert results == [(0, 60)] * 4 + [(60, 0)] * 4
    assert UsageEvent.objects.filter(event_id__in=ids).count() == 4 * 60
    for account in accounts:
        assert UsageCounter.objects.get(account=account).used == 60 * 7
