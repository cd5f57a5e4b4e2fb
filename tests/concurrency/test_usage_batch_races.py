"""Batches for different accounts that share event ids, sent at once.

Their account locks do not serialise them: on PostgreSQL the set-based
insert waits on the other batch's uncommitted ids instead. Ids go in sorted
order, so batches listing the same ids in opposite orders cannot deadlock.
"""

import pytest

from billing.errors import UsageBatchRejected
from billing.models import UsageEvent
from billing.services.usage import UsageEventInput, record_usage_events
from tests.factories.billing import personal_account

pytestmark = pytest.mark.django_db(transaction=True)


def test_shared_ids_in_opposite_orders_are_stored_once(run_concurrently):
    accounts = [personal_account() for _ in range(8)]
    ids = [f"shared-{i}" for i in range(60)]

    def send(i: int):
        order = ids if i % 2 else list(reversed(ids))
        return record_usage_events(
            events=[
                UsageEventInput(
                    id=event_id, account=accounts[i], meter="bandwidth", quantity=7
                )
                for event_id in order
            ]
        )

    outcomes = run_concurrently(send, threads=8)

    # One batch wins; every other one finds all its ids taken with another
    # payload (another account), so it is rejected whole.
    outcomes.assert_only(UsageBatchRejected)
    assert [(r.accepted, r.duplicates) for r in outcomes.results] == [(60, 0)]
    for error in outcomes.errors:
        assert {d["code"] for d in error.details} == {"idempotency_conflict"}
        assert len(error.details) == 60
    assert UsageEvent.objects.filter(event_id__in=ids).count() == 60
    assert (
        UsageEvent.objects.filter(event_id__in=ids).values("account").distinct().count()
        == 1
    )
