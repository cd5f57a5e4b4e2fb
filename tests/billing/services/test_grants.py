"""Staff adjustments: a grant with a reason on record, added and revoked
by staff only."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from billing.errors import InvalidRequest, PermissionDenied
from billing.models import Grant
from billing.services.grants import create_adjustment_grant, revoke_grant
from billing.units import GB
from tests.factories.billing import meter, personal_account

from .helpers import FREE_STORAGE, limit, staff_user

pytestmark = pytest.mark.django_db

AT = datetime(2026, 4, 16, 12, tzinfo=UTC)


def test_a_staff_adjustment_raises_the_limit_with_its_reason_on_record():
    account = personal_account()
    staff = staff_user()

    grant = create_adjustment_grant(
        account=account,
        meter=meter("storage"),
        amount=5 * GB,
        reason="Goodwill after outage",
        actor=staff,
    )

    assert limit(account, "storage") == FREE_STORAGE + 5 * GB
    assert grant.source == Grant.Source.ADJUSTMENT
    assert grant.reason == "Goodwill after outage"
    assert grant.created_by == staff
    assert grant.purchase is None


@pytest.mark.parametrize("amount", [0, -1])
def test_a_staff_adjustment_needs_a_positive_amount(amount):
    account = personal_account()

    with pytest.raises(InvalidRequest):
        create_adjustment_grant(
            account=account,
            meter=meter("storage"),
            amount=amount,
            reason="Goodwill",
            actor=staff_user(),
        )

    assert not account.grants.exists()
    assert limit(account, "storage") == FREE_STORAGE


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_staff_adjustment_needs_a_reason(reason):
    account = personal_account()

    with pytest.raises(InvalidRequest):
        create_adjustment_grant(
            account=account,
            meter=meter("storage"),
            amount=GB,
            reason=reason,
            actor=staff_user(),
        )

    assert not account.grants.exists()


@pytest.mark.time_machine(AT)
def test_a_staff_adjustment_cannot_expire_in_the_past():
    account = personal_account()

    with pytest.raises(InvalidRequest):
        create_adjustment_grant(
            account=account,
            meter=meter("storage"),
            amount=GB,
            reason="Goodwill",
            actor=staff_user(),
            expires_at=timezone.now() - timedelta(minutes=1),
        )

    assert not account.grants.exists()


@pytest.mark.time_machine(AT)
def test_a_staff_adjustment_with_an_expiry_stops_counting_then():
    account = personal_account()
    expires_at = timezone.now() + timedelta(days=3)

    create_adjustment_grant(
        account=account,
        meter=meter("storage"),
        amount=GB,
        reason="Trial",
        actor=staff_user(),
        expires_at=expires_at,
    )

    assert limit(account, "storage") == FREE_STORAGE + GB
    assert limit(account, "storage", at=expires_at) == FREE_STORAGE


def test_only_staff_can_add_an_adjustment_grant():
    account = personal_account()

    with pytest.raises(PermissionDenied):
        create_adjustment_grant(
            account=account,
            meter=meter("storage"),
            amount=GB,
            reason="me",
            actor=account.user,
        )

    assert limit(account, "storage") == FREE_STORAGE


def test_revoking_a_grant_drops_the_limit_back():
    account = personal_account()
    grant = create_adjustment_grant(
        account=account,
        meter=meter("storage"),
        amount=GB,
        reason="Goodwill",
        actor=staff_user(),
    )

    assert revoke_grant(grant=grant, actor=None, reason="Granted by mistake") is True

    assert limit(account, "storage") == FREE_STORAGE
    grant.refresh_from_db()
    assert grant.revoked_at is not None
    assert grant.reason == "Granted by mistake"
