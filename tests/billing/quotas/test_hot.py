"""The API's one-statement authorize answers exactly as the pages' loader does.

``billing.quotas.hot`` reads the cached facts with hand-written SQL for
speed; these cases walk every kind of fact it mirrors (live, expired and
revoked grants, burned top-ups, consents live and revoked, gauges, slots, a
renewal term not yet folded) and compare both answers, and the state and
remaining figures of ``GET /quotas``.
"""

from datetime import UTC, datetime, timedelta

import pytest

from billing.errors import UnknownAccount, UnknownMeter
from billing.quotas.hot import authorize_by_ids, quota_status_by_pk, slot_facts
from billing.selectors import account_quotas, job_slot_limit
from billing.selectors.authorize import decide_authorization
from billing.units import GB
from tests.billing.event_time.helpers import use
from tests.factories.billing import (
    GrantFactory,
    JobSlotFactory,
    OverageConsentFactory,
    company_account,
    meter,
    personal_account,
)

pytestmark = [pytest.mark.django_db, pytest.mark.time_machine("2026-04-16 12:00Z")]

AT = datetime(2026, 4, 16, 12, tzinfo=UTC)


def assert_same_answers(account, code, quantities):
    status = {q.meter.code: q for q in account_quotas(account=account, at=AT)}[code]
    for quantity in quantities:
        fast = authorize_by_ids(
            external_id=account.external_id, meter_code=code, quantity=quantity, at=AT
        )
        # The same decision from the set-based loader of the pages.
        slow = decide_authorization(
            account=account, status=status, quantity=quantity, at=AT
        )
        assert fast == slow, (code, quantity)
    by_pk = quota_status_by_pk(account_id=account.pk, meter_id=meter(code).pk, at=AT)
    assert (by_pk.state, by_pk.used, by_pk.limit, by_pk.accrued_cents) == (
        status.state,
        status.used,
        status.limit,
        status.accrued_cents,
    )
    plain = authorize_by_ids(
        external_id=account.external_id, meter_code=code, quantity=1, at=AT
    )
    if plain.allowed and plain.state == status.state:
        assert plain.remaining == max(status.remaining - 1, 0)
    assert (plain.state, status.state) != ("ok", "blocked")


def account_with_id(**kwargs):
    account = personal_account(**kwargs)
    account.external_id = f"auth-{account.pk}"
    account.save(update_fields=["external_id"])
    return account


@pytest.mark.parametrize("code", ["bandwidth", "transcoding", "storage"])
def test_a_fresh_account_is_answered_alike(code):
    assert_same_answers(account_with_id(), code, [1, 10**9, 10**15])


def test_burned_and_live_top_ups_expired_and_revoked_grants_count_alike():
    account = account_with_id()
    bandwidth = meter("bandwidth")
    GrantFactory(
        account=account,
        meter=bandwidth,
        amount=2 * GB,
        effective_at=AT - timedelta(days=3),
        expires_at=AT + timedelta(days=300),
    )
    GrantFactory(
        account=account,
        meter=bandwidth,
        amount=50 * GB,
        effective_at=AT - timedelta(days=40),
        expires_at=AT - timedelta(hours=1),
    )
    GrantFactory(
        account=account,
        meter=bandwidth,
        amount=50 * GB,
        effective_at=AT - timedelta(days=3),
        revoked_at=AT - timedelta(hours=1),
    )
    use(account, "bandwidth", 6 * GB, on=AT)
    assert_same_answers(account, "bandwidth", [1, GB, 2 * GB])


def test_consents_live_revoked_and_capped_count_alike():
    account = account_with_id()
    use(account, "bandwidth", 5 * GB, on=AT - timedelta(days=2))
    OverageConsentFactory(
        account=account,
        meter=meter("bandwidth"),
        cap_cents=100,
        given_at=AT - timedelta(days=1),
    )
    use(account, "bandwidth", 10 * GB // 9, on=AT)  # $0.09 per GB: $0.10 of overage
    assert_same_answers(account, "bandwidth", [1, GB // 10, GB])

    revoked = account_with_id()
    use(revoked, "transcoding", 7200, on=AT)
    OverageConsentFactory(
        account=revoked,
        meter=meter("transcoding"),
        revoked_at=AT - timedelta(hours=1),
        given_at=AT - timedelta(days=1),
    )
    assert_same_answers(revoked, "transcoding", [1, 60])


def test_storage_over_its_limit_with_a_consent_counts_alike():
    account = account_with_id()
    use(account, "storage", 3 * GB, on=AT - timedelta(days=5))
    OverageConsentFactory(
        account=account,
        meter=meter("storage"),
        cap_cents=1_000,
        given_at=AT - timedelta(days=6),
    )
    assert_same_answers(account, "storage", [1, GB, 100 * GB])


def test_a_hard_blocked_account_is_refused_alike():
    account = account_with_id()
    account.hard_blocked = True
    account.save(update_fields=["hard_blocked"])
    assert_same_answers(account, "bandwidth", [1])


def test_job_slots_count_alike():
    account = company_account()
    account.external_id = f"co-{account.pk}"
    account.save(update_fields=["external_id"])
    JobSlotFactory.create_batch(2, account=account)
    JobSlotFactory(account=account, released=True)
    assert_same_answers(account, "job_slots", [1])


def test_a_renewal_term_not_yet_folded_counts_alike():
    account = account_with_id()
    transcoding = meter("transcoding")
    use(account, "transcoding", 5000, on=AT - timedelta(days=3))
    renewal = GrantFactory(
        account=account,
        meter=transcoding,
        amount=3600,
        effective_at=AT - timedelta(days=1),
        expires_at=AT + timedelta(days=29),
    )
    type(renewal).objects.filter(pk=renewal.pk).update(
        created_at=AT - timedelta(days=10)
    )
    assert_same_answers(account, "transcoding", [1, 3600])


def test_unknown_ids_are_named_in_the_error():
    account = account_with_id()
    with pytest.raises(UnknownAccount):
        authorize_by_ids(external_id="nobody", meter_code="bandwidth", quantity=1)
    with pytest.raises(UnknownMeter):
        authorize_by_ids(external_id=account.external_id, meter_code="x", quantity=1)
    with pytest.raises(UnknownMeter):  # job slots are for companies
        authorize_by_ids(
            external_id=account.external_id, meter_code="job_slots", quantity=1
        )


def test_the_allocation_read_sees_the_limit_and_slots_the_pages_see():
    account = company_account()
    slots = meter("job_slots")
    GrantFactory(
        account=account,
        meter=slots,
        amount=5,
        effective_at=AT - timedelta(days=1),
        expires_at=AT + timedelta(days=29),
    )
    GrantFactory(
        account=account,
        meter=slots,
        amount=20,
        effective_at=AT - timedelta(days=40),
        expires_at=AT - timedelta(days=1),
    )
    GrantFactory(
        account=account,
        meter=slots,
        amount=50,
        effective_at=AT - timedelta(days=1),
        revoked_at=AT - timedelta(hours=1),
    )
    held = JobSlotFactory(account=account, job_ref="held")
    JobSlotFactory(account=account, job_ref="waiting", status="suspended")
    JobSlotFactory(account=account, released=True)

    facts = slot_facts(
        account_id=account.pk, plan_id=account.plan_id, job_ref="held", at=AT
    )

    assert facts.limit == job_slot_limit(account=account, at=AT) == 2 + 5
    assert (facts.active, facts.suspended, facts.held_id) == (1, 1, held.pk)
    other = slot_facts(
        account_id=account.pk, plan_id=account.plan_id, job_ref="new", at=AT
    )
    assert other.held_id is None
