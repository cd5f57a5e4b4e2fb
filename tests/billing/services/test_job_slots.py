"""Job slots: allocated up to the limit, released, suspended newest first
when the limit drops, and reactivated oldest first when it rises."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from billing.errors import NotFound, QuotaExceeded
from billing.models import Alert, JobSlot
from billing.selectors import job_slot_overview
from billing.services.expirations import sweep_expirations
from billing.services.grants import revoke_grant
from billing.services.job_slots import (
    allocate_job_slot,
    reconcile_job_slots,
    release_job_slot,
)
from billing.services.packs import purchase_pack
from billing.services.refunds import refund_charge
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import (
    GrantFactory,
    PackFactory,
    company_account,
    meter,
    owner_of,
)

pytestmark = pytest.mark.django_db

# The instant of the tests that sweep or reconcile (slot grants expire an
# hour after it).
SWEPT_AT = datetime(2026, 6, 10, 12, tzinfo=UTC)


def _allocate(account, *job_refs):
    return [allocate_job_slot(account=account, job_ref=ref).slot for ref in job_refs]


def _statuses(account):
    return dict(account.job_slots.held().values_list("job_ref", "status"))


def _slot_grant(account, *, amount, **kwargs):
    return GrantFactory(
        account=account, meter=meter("job_slots"), amount=amount, **kwargs
    )


def _buy_slots(account, amount, *, token="buy-slots"):
    pack = PackFactory(slots=True, lines={"job_slots": amount})
    return purchase_pack(
        account=account, pack=pack, actor=owner_of(account), idempotency_key=token
    )


def test_two_slots_are_free_and_the_third_is_refused():
    account = company_account()
    _allocate(account, "job-1", "job-2")

    with pytest.raises(QuotaExceeded) as excinfo:
        allocate_job_slot(account=account, job_ref="job-3")

    assert excinfo.value.code == "quota_exceeded"
    assert excinfo.value.details == {"meter": "job_slots", "used": 2, "limit": 2}
    assert not account.job_slots.filter(job_ref="job-3").exists()
    assert account.job_slots.count() == 2


def test_a_new_allocation_is_active_and_counts_as_used():
    account = company_account()

    result = allocate_job_slot(account=account, job_ref="job-1")

    assert result.created is True
    assert result.slot.status == JobSlot.Status.ACTIVE
    overview = job_slot_overview(account=account)
    assert (overview.used, overview.limit) == (1, 2)


def test_allocating_the_same_job_again_returns_the_held_slot():
    account = company_account()
    first = allocate_job_slot(account=account, job_ref="job-1")

    again = allocate_job_slot(account=account, job_ref="job-1")

    assert (again.slot, again.created) == (first.slot, False)
    assert account.job_slots.count() == 1


def test_a_job_already_holding_a_slot_is_not_refused_at_the_limit():
    account = company_account()
    _allocate(account, "job-1", "job-2")

    again = allocate_job_slot(account=account, job_ref="job-2")

    assert again.created is False
    assert account.job_slots.active().count() == 2


def test_releasing_frees_the_slot_for_another_job():
    account = company_account()
    _allocate(account, "job-1", "job-2")

    assert release_job_slot(account=account, job_ref="job-1") is True

    assert account.job_slots.get(job_ref="job-1").status == JobSlot.Status.RELEASED
    assert allocate_job_slot(account=account, job_ref="job-3").created is True
    assert job_slot_overview(account=account).used == 2


def test_releasing_twice_returns_false_the_second_time():
    account = company_account()
    _allocate(account, "job-1")

    assert release_job_slot(account=account, job_ref="job-1") is True
    assert release_job_slot(account=account, job_ref="job-1") is False
    assert account.job_slots.get(job_ref="job-1").status == JobSlot.Status.RELEASED


def test_releasing_a_job_that_never_held_a_slot_is_not_found():
    account = company_account()

    with pytest.raises(NotFound) as excinfo:
        release_job_slot(account=account, job_ref="never-allocated")

    assert excinfo.value.code == "not_found"


def test_a_job_held_on_another_account_is_not_found_here():
    account, other = company_account(), company_account()
    _allocate(other, "job-1")

    with pytest.raises(NotFound):
        release_job_slot(account=account, job_ref="job-1")

    assert other.job_slots.get(job_ref="job-1").status == JobSlot.Status.ACTIVE


def test_a_released_job_can_be_allocated_again():
    account = company_account()
    (first,) = _allocate(account, "job-1")
    release_job_slot(account=account, job_ref="job-1")

    again = allocate_job_slot(account=account, job_ref="job-1")

    assert again.created is True
    assert again.slot.pk != first.pk
    assert again.slot.status == JobSlot.Status.ACTIVE
    assert list(
        account.job_slots.filter(job_ref="job-1").values_list("status", flat=True)
    ) == [JobSlot.Status.RELEASED, JobSlot.Status.ACTIVE]


def test_slot_limits_are_per_account():
    account, other = company_account(), company_account()
    _allocate(account, "job-1", "job-2")

    assert allocate_job_slot(account=other, job_ref="job-1").created is True
    assert job_slot_overview(account=other).used == 1


def test_a_slot_grant_raises_the_limit():
    account = company_account()
    _slot_grant(account, amount=3)

    _allocate(account, "job-1", "job-2", "job-3", "job-4", "job-5")

    with pytest.raises(QuotaExceeded):
        allocate_job_slot(account=account, job_ref="job-6")
    assert job_slot_overview(account=account).used == 5


def test_an_expired_slot_grant_stops_counting_even_without_a_sweep():
    account = company_account()
    _slot_grant(account, amount=5, expired=True)
    _allocate(account, "job-1", "job-2")

    with pytest.raises(QuotaExceeded) as excinfo:
        allocate_job_slot(account=account, job_ref="job-3")

    assert excinfo.value.details["limit"] == 2
    assert job_slot_overview(account=account).limit == 2


def test_a_revoked_slot_grant_stops_counting():
    account = company_account()
    _slot_grant(account, amount=5, revoked=True)
    _allocate(account, "job-1", "job-2")

    with pytest.raises(QuotaExceeded):
        allocate_job_slot(account=account, job_ref="job-3")


@pytest.mark.time_machine(SWEPT_AT)
def test_expiry_sweep_suspends_the_newest_allocations_beyond_the_limit():
    account = company_account()
    now = SWEPT_AT
    _slot_grant(account, amount=3, expires_at=now + timedelta(hours=1))
    _allocate(account, "job-1", "job-2", "job-3", "job-4", "job-5")

    sweep = sweep_expirations(at=now + timedelta(hours=2))

    assert sweep.suspended_slots == 3
    assert _statuses(account) == {
        "job-1": "active",
        "job-2": "active",
        "job-3": "suspended",
        "job-4": "suspended",
        "job-5": "suspended",
    }
    assert account.job_slots.get(job_ref="job-5").suspended_at is not None
    assert account.alerts.filter(kind=Alert.Kind.SUSPENDED).count() == 1
    message = account.alerts.get(kind=Alert.Kind.SUSPENDED).message
    assert message.startswith("3 job postings were suspended after ")
    causes = set(
        account.job_slots.filter(status="suspended").values_list(
            "suspension_cause", flat=True
        )
    )
    assert len(causes) == 1 and causes.pop().endswith(" expired")


@pytest.mark.time_machine(SWEPT_AT)
def test_one_suspended_posting_is_written_in_the_singular():
    account = company_account()
    now = SWEPT_AT
    _slot_grant(account, amount=1, expires_at=now + timedelta(hours=1))
    _allocate(account, "job-1", "job-2", "job-3")  # 2 free + 1 from the grant

    sweep_expirations(at=now + timedelta(hours=2))

    message = account.alerts.get(kind=Alert.Kind.SUSPENDED).message
    assert message.startswith("1 job posting was suspended after ")


@pytest.mark.time_machine(SWEPT_AT)
def test_expiry_sweep_suspends_nothing_when_the_slots_still_fit():
    account = company_account()
    now = timezone.now()
    _slot_grant(account, amount=3, expires_at=now + timedelta(hours=1))
    _allocate(account, "job-1", "job-2")

    sweep = sweep_expirations(at=now + timedelta(hours=2))

    assert sweep.suspended_slots == 0
    assert set(_statuses(account).values()) == {"active"}
    assert not account.alerts.filter(kind=Alert.Kind.SUSPENDED).exists()


@pytest.mark.time_machine(SWEPT_AT)
def test_rerunning_the_sweep_does_not_suspend_or_alert_again():
    account = company_account()
    now = timezone.now()
    _slot_grant(account, amount=1, expires_at=now + timedelta(hours=1))
    _allocate(account, "job-1", "job-2", "job-3")
    sweep_expirations(at=now + timedelta(hours=2))

    rerun = sweep_expirations(at=now + timedelta(hours=3))

    assert (rerun.expired_grants, rerun.suspended_slots) == (0, 0)
    assert account.alerts.filter(kind=Alert.Kind.SUSPENDED).count() == 1


def test_suspension_alert_is_emailed_to_the_company_owner(
    django_capture_on_commit_callbacks,
):
    account = company_account()
    grant = _slot_grant(account, amount=1)
    _allocate(account, "job-1", "job-2", "job-3")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        revoke_grant(grant=grant, actor=None)

    suspended_mails = [m for m in mail.outbox if "suspended" in m.subject.lower()]
    assert len(suspended_mails) == 1
    assert suspended_mails[0].to == [owner_of(account).email]


def test_revoking_a_slot_grant_suspends_the_newest_allocations():
    account = company_account()
    grant = _slot_grant(account, amount=2)
    _allocate(account, "job-1", "job-2", "job-3", "job-4")

    assert revoke_grant(grant=grant, actor=None) is True

    assert _statuses(account) == {
        "job-1": "active",
        "job-2": "active",
        "job-3": "suspended",
        "job-4": "suspended",
    }
    assert account.alerts.filter(kind=Alert.Kind.SUSPENDED).count() == 1
    overview = job_slot_overview(account=account)
    assert (overview.used, overview.limit) == (2, 2)
    assert [s.job_ref for s in overview.suspended] == ["job-3", "job-4"]
    assert {s.suspension_cause for s in overview.suspended} == {
        f"staff ended {grant.reason or 'a staff grant'}"
    }


def test_revoking_a_grant_twice_changes_nothing_the_second_time():
    account = company_account()
    grant = _slot_grant(account, amount=1)
    _allocate(account, "job-1", "job-2", "job-3")
    revoke_grant(grant=grant, actor=None)

    assert revoke_grant(grant=grant, actor=None) is False
    assert account.job_slots.filter(status=JobSlot.Status.SUSPENDED).count() == 1


def test_refunding_a_slot_pack_suspends_the_slots_it_paid_for():
    account = company_account()
    bought = _buy_slots(account, 2)
    _allocate(account, "job-1", "job-2", "job-3", "job-4")

    refund_charge(
        charge=bought.charge,
        actor=StaffUserFactory(perms=["billing.refund_charge"]),
    )

    assert _statuses(account) == {
        "job-1": "active",
        "job-2": "active",
        "job-3": "suspended",
        "job-4": "suspended",
    }
    assert account.alerts.filter(kind=Alert.Kind.SUSPENDED).exists()
    # The customer is told the true cause: the refund, not an expiry.
    suspended = account.job_slots.get(job_ref="job-4")
    assert suspended.suspension_cause == f"the refund of {bought.charge.description}"
    alert = account.alerts.get(kind=Alert.Kind.SUSPENDED)
    assert "after the refund of" in alert.message


def test_the_job_slots_page_says_why_each_posting_was_suspended(client):
    account = company_account()
    bought = _buy_slots(account, 2)
    _allocate(account, "job-1", "job-2", "job-3")
    refund_charge(
        charge=bought.charge,
        actor=StaffUserFactory(perms=["billing.refund_charge"]),
    )
    client.force_login(owner_of(account))
    page = client.get(
        reverse("dashboard:company-job-slots", args=[account.pk])
    ).content.decode()
    assert f"After the refund of {bought.charge.description}" in page
    assert "after a pack expired" not in page


def test_buying_slots_reactivates_suspended_jobs_oldest_first_up_to_the_limit():
    account = company_account()
    grant = _slot_grant(account, amount=3)
    _allocate(account, "job-1", "job-2", "job-3", "job-4", "job-5")
    revoke_grant(grant=grant, actor=None)

    _buy_slots(account, 1)

    assert _statuses(account) == {
        "job-1": "active",
        "job-2": "active",
        "job-3": "active",
        "job-4": "suspended",
        "job-5": "suspended",
    }
    assert account.job_slots.get(job_ref="job-3").suspended_at is None


def test_buying_enough_slots_reactivates_every_suspended_job():
    account = company_account()
    grant = _slot_grant(account, amount=2)
    _allocate(account, "job-1", "job-2", "job-3", "job-4")
    revoke_grant(grant=grant, actor=None)

    _buy_slots(account, 5)

    assert set(_statuses(account).values()) == {"active"}
    overview = job_slot_overview(account=account)
    assert (overview.used, overview.limit) == (4, 7)


def test_suspended_jobs_get_free_capacity_before_new_jobs():
    account = company_account()
    grant = _slot_grant(account, amount=1)
    _allocate(account, "job-1", "job-2", "job-3")
    revoke_grant(grant=grant, actor=None)

    release_job_slot(account=account, job_ref="job-1")

    assert account.job_slots.get(job_ref="job-3").status == JobSlot.Status.ACTIVE
    with pytest.raises(QuotaExceeded):
        allocate_job_slot(account=account, job_ref="job-new")


def test_allocating_a_suspended_job_returns_it_without_taking_a_slot():
    account = company_account()
    grant = _slot_grant(account, amount=1)
    _allocate(account, "job-1", "job-2", "job-3")
    revoke_grant(grant=grant, actor=None)

    again = allocate_job_slot(account=account, job_ref="job-3")

    assert again.created is False
    assert again.slot.status == JobSlot.Status.SUSPENDED
    assert account.job_slots.active().count() == 2


def test_releasing_a_suspended_job_removes_it_from_the_queue():
    account = company_account()
    grant = _slot_grant(account, amount=1)
    _allocate(account, "job-1", "job-2", "job-3")
    revoke_grant(grant=grant, actor=None)

    assert release_job_slot(account=account, job_ref="job-3") is True

    _buy_slots(account, 1)
    assert _statuses(account) == {"job-1": "active", "job-2": "active"}


@pytest.mark.time_machine(SWEPT_AT)
def test_reconcile_matches_active_slots_to_the_current_limit():
    account = company_account()
    now = timezone.now()
    _slot_grant(account, amount=2, expires_at=now + timedelta(hours=1))
    _allocate(account, "job-1", "job-2", "job-3", "job-4")

    later = reconcile_job_slots(account=account, at=now + timedelta(hours=2))
    back = reconcile_job_slots(account=account, at=now)

    assert later.suspended == ["job-3", "job-4"]
    assert later.reactivated == []
    assert back.suspended == []
    assert back.reactivated == ["job-3", "job-4"]
    assert set(_statuses(account).values()) == {"active"}


def test_a_second_suspension_in_the_same_month_raises_no_second_alert():
    account = company_account()
    first, second = _slot_grant(account, amount=1), _slot_grant(account, amount=1)
    _allocate(account, "job-1", "job-2", "job-3", "job-4")

    revoke_grant(grant=first, actor=None)
    revoke_grant(grant=second, actor=None)

    assert _statuses(account)["job-3"] == "suspended"
    assert _statuses(account)["job-4"] == "suspended"
    assert account.alerts.filter(kind=Alert.Kind.SUSPENDED).count() == 1
