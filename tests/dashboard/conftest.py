import pytest

from tests.factories.accounts import MembershipFactory
from tests.factories.billing import company_account, personal_account


@pytest.fixture
def me(client):
    """A signed-in user with a personal account."""
    account = personal_account(email="me@example.com")
    client.force_login(account.user)
    return account


@pytest.fixture
def my_company(me):
    """A company the signed-in user owns."""
    return company_account(owner=me.user)


@pytest.fixture
def member_company(me):
    """A company where the signed-in user is a plain member."""
    account = company_account()
    MembershipFactory(company=account.company, user=me.user)
    return account
