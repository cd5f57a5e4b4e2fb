"""Who may manage an account, and where its e-mail goes."""

import pytest

from billing.models import Account
from billing.selectors import account_email
from tests.factories.accounts import MembershipFactory, UserFactory
from tests.factories.billing import company_account, personal_account

pytestmark = pytest.mark.django_db


def test_a_personal_account_writes_to_its_user():
    account = personal_account(email="pat@example.com")

    assert account_email(account=account) == account.user.email


def test_a_company_writes_to_its_first_owner_by_email_not_to_members():
    account = company_account(owner=UserFactory(email="zoe@example.com"))
    company = account.company
    MembershipFactory(company=company, user=UserFactory(email="ann@example.com"))
    MembershipFactory(
        company=company, user=UserFactory(email="bob@example.com"), owner=True
    )

    assert account_email(account=account) == "bob@example.com"


def test_an_account_nobody_signed_up_to_writes_to_the_platforms_email():
    account = Account.objects.create(
        kind=Account.Kind.USER,
        name="Platform user",
        external_id="user-42",
        email="someone@example.com",
        plan=personal_account().plan,
    )

    assert account_email(account=account) == "someone@example.com"
