"""Daily usage rollups: each account's snapshot counted in one utilisation
band per meter and day; rerunning changes nothing."""

from datetime import date

import pytest

from billing.models import UsageRollup
from billing.services.rollups import refresh_usage_rollups
from billing.units import GB
from tests.factories.billing import UsageSnapshotFactory, meter

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 20)
# (used, state, unbilled excess) of one bandwidth snapshot against 10 GB; the
# analytics tests check that a live status falls in the same band.
ROLLUP_CASES = [
    (0, "ok", 0),  # idle
    (4 * GB, "ok", 0),  # 40%
    (5 * GB, "ok", 0),  # 50% -> 50-80
    (7 * GB, "ok", 0),
    (8 * GB, "warning", 0),  # 80% -> 80-100
    (10 * GB, "exceeded", 0),  # exactly at the limit: 80-100
    (12 * GB, "overage", 0),  # consented
    (13 * GB, "blocked", GB),  # cap reached: 1 GB past it is unbilled
    (15 * GB, "exceeded", 5 * GB),  # no consent: 5 GB unbilled
]


def test_rollups_put_each_account_in_one_utilisation_band():
    limit = 10 * GB
    cases = ROLLUP_CASES
    for used, state, unbilled in cases:
        UsageSnapshotFactory(
            day=DAY, used=used, limit=limit, state=state, unbilled_excess=unbilled
        )
    refresh_usage_rollups(start=DAY, end=DAY)
    refresh_usage_rollups(start=DAY, end=DAY)  # rerun
    rollup = UsageRollup.objects.get(meter=meter("bandwidth"))
    assert rollup.accounts == 9
    assert (rollup.under_50, rollup.from_50_to_80, rollup.from_80_to_100) == (2, 2, 2)
    assert (rollup.over_with_consent, rollup.over_without_consent) == (2, 1)
    assert rollup.unbilled_excess == 6 * GB  # each snapshot's own figure, summed
    assert rollup.total_used == sum(used for used, _, _ in cases)
