"""Event-time edge cases from a review of the billing arithmetic.

Every step happens at a named instant; amounts are worked by hand in each
docstring. Free plan: storage 2 GB at $0.10/GB-month, bandwidth 5 GB a
month at $0.09/GB.
"""

from datetime import date

import pytest

from billing.models import UsageSnapshot
from billing.quotas.current import period_overage
from billing.quotas.facts import period_overage_from_facts
from billing.quotas.rules import unbilled_units
from tests.factories.billing import meter

from .helpers import (
    GB,
    MARCH,
    clock,
    close,
    consent,
    customer,
    moment,
    overage_cents,
    rebuild_diff,
    snapshot_days,
    use,
)

pytestmark = pytest.mark.django_db


def test_storage_cap_raised_staff_unbilled_agrees_with_close():
    """Level 3 GB all March (1 GB excess a day). Consent Mar 1 cap 1c, raised
    to $10 on Mar 20 00:00 (no gap). Close bills 31 GB-days/31 x 10c = 10c,
    so nothing of March stays unbilled. Each snapshot carries the period's
    unbilled excess so far (GB-months) with the cap as of its day: the 19th
    still says 0.6 GB-months unbilled against the 1c cap (19 GB-days, 0.1
    billable); the 31st, what close says: 0."""
    acct = customer()
    consent(acct, "storage", 1, on=moment(3, 1))
    use(acct, "storage", 3 * GB, on=moment(3, 1))
    snapshot_days(MARCH.start, date(2027, 3, 19))
    consent(acct, "storage", 1000, on=moment(3, 20))
    close(MARCH, on=moment(4, 4, 1))
    assert overage_cents(acct, "storage", MARCH) == [10]
    st = meter("storage")
    with clock(moment(4, 4, 1)):
        facts = period_overage_from_facts(
            account=acct, meter=st, period=MARCH, known_at=moment(4, 4, 1)
        )
    assert unbilled_units(st, facts, MARCH) == 0
    unbilled = dict(
        UsageSnapshot.objects.filter(account=acct, meter=st).values_list(
            "day", "unbilled_excess"
        )
    )
    # 19 GB-days used, 1c of cap = 0.1 GB-month = 3.1 GB-days billable:
    # (19 - 3.1) / 31 = 0.5129 GB-months.
    assert unbilled[date(2027, 3, 19)] == 512_903_225
    assert unbilled[date(2027, 3, 31)] == 0


def test_late_counter_event_rewrites_folded_snapshots_like_rebuild():
    """Consent Mar 1 (cap $100). Snapshots through Mar 19. Mar 20: a late
    6 GB dated Mar 5 -> 1 GB consented excess from Mar 5 on; snapshots of
    Mar 5..19 say used 6 GB, state overage; caches equal a rebuild."""
    acct = customer()
    consent(acct, "bandwidth", 10_000, on=moment(3, 1))
    snapshot_days(MARCH.start, date(2027, 3, 19))
    use(acct, "bandwidth", 6 * GB, on=moment(3, 5), received=moment(3, 20, 10))
    snap = UsageSnapshot.objects.get(
        account=acct, meter=meter("bandwidth"), day=date(2027, 3, 10)
    )
    assert (snap.used, snap.state) == (6 * GB, "overage")
    before, after = rebuild_diff(acct, now=moment(3, 20, 11))
    assert before == after


def test_storage_consent_mid_day_page_equals_close():
    """Level 3 GB from Mar 1. Consent Mar 16 10:00 (covers the 16th on).
    Days 16..31 = 16 GB-days -> 16/31 x 10c = 5.16 -> 5c. Page on Mar 31
    12:00 (snapshots through the 30th): 5c; close: 5c."""
    acct = customer()
    use(acct, "storage", 3 * GB, on=moment(3, 1))
    consent(acct, "storage", 10_000, on=moment(3, 16, 10))
    snapshot_days(MARCH.start, date(2027, 3, 30))
    at = moment(3, 31, 12)
    with clock(at):
        page = period_overage(account=acct, meter=meter("storage"), at=at)
    assert page.billable_cents == 5
    close(MARCH, on=moment(4, 4, 1))
    assert overage_cents(acct, "storage", MARCH) == [5]
