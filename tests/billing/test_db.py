"""``any_of`` (one array parameter on PostgreSQL) filters like a plain list."""

import pytest

from billing.db import any_of
from billing.models import Account
from billing.services.locks import lock_accounts
from tests.factories.billing import PlatformAccountFactory, personal_account

pytestmark = pytest.mark.django_db


def test_any_of_matches_the_plain_in_list() -> None:
    accounts = [personal_account() for _ in range(3)]
    ids = [a.pk for a in accounts[:2]]
    assert set(
        Account.objects.filter(pk__in=any_of(ids)).values_list("pk", flat=True)
    ) == set(ids)
    assert not Account.objects.filter(pk__in=any_of([])).exists()


def test_lock_accounts_finds_accounts_by_pk_and_external_id() -> None:
    first = personal_account()
    named = PlatformAccountFactory(external_id="any-of-1")
    locked = lock_accounts([first.pk], external_ids=["any-of-1", "missing"])
    assert list(locked) == sorted([first.pk, named.pk])
    assert locked[named.pk].plan.pk == named.plan_id
