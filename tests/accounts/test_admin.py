"""The user and company admin (accounts/admin.py): each gets its billing
account.
"""

import pytest

from accounts.models import Company, User
from billing.models import (
    Account,
)
from tests.billing.admin.helpers import (
    url,
)
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db


def test_adding_a_user_by_email_gives_them_a_billing_account(admin_client):
    response = admin_client.post(
        url(User, "add"),
        {
            "email": "New.Person@Example.com",
            "name": "New Person",
            "usable_password": "true",
            "password1": "a-long-pass-phrase",
            "password2": "a-long-pass-phrase",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="new.person@example.com")
    assert user.check_password("a-long-pass-phrase")
    assert user.billing_account.kind == Account.Kind.USER


def test_a_second_user_with_the_same_email_in_another_case_is_refused(admin_client):
    UserFactory(email="taken@example.com")
    response = admin_client.post(
        url(User, "add"),
        {
            "email": "TAKEN@example.com",
            "usable_password": "false",
        },
    )
    assert response.status_code == 200
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1


def test_user_change_page_saves_the_name(admin_client):
    user = UserFactory()
    response = admin_client.post(
        url(User, "change", user.pk),
        {
            "email": user.email,
            "name": "Renamed",
            "is_active": "on",
            "date_joined_0": "2025-01-01",
            "date_joined_1": "10:00:00",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.name == "Renamed"


def test_company_with_an_owner_is_added_with_its_membership_inline(admin_client):
    owner = UserFactory()
    response = admin_client.post(
        url(Company, "add"),
        {
            "name": "Initech",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-user": owner.pk,
            "memberships-0-role": "owner",
        },
    )
    assert response.status_code == 302
    company = Company.objects.get(name="Initech")
    assert company.memberships.get().user == owner
    assert company.billing_account.kind == Account.Kind.COMPANY
