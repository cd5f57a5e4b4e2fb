import pytest
from django.urls import reverse

from billing.services.usage import record_usage_event
from billing.units import GB
from tests.factories.accounts import MembershipFactory
from tests.factories.billing import company_account, personal_account

pytestmark = pytest.mark.django_db


def test_anonymous_home_invites_sign_in(client):
    response = client.get(reverse("dashboard:home"))
    assert response.status_code == 200
    assert reverse("dashboard:login") in response.content.decode()


def test_sign_in_with_email_then_see_own_and_company_accounts(
    client, django_assert_max_num_queries
):
    account = personal_account(email="ana@example.com")
    company = company_account(owner=account.user)
    record_usage_event(
        event_id="s1", account=account, meter="storage", quantity=GB * 17 // 10
    )

    response = client.post(
        reverse("dashboard:login"), {"username": "ana@example.com", "password": "pw"}
    )
    assert response.status_code == 302

    home = client.get(reverse("dashboard:home"))
    assert home.url == reverse("dashboard:user-overview", args=[account.pk])
    with django_assert_max_num_queries(17):
        page = client.get(home.url).content.decode()
    assert account.name in page and company.name in page  # company in the switcher
    assert "1.7 GB of 2.0 GB" in page
    assert "warning" in page  # 85% of the storage limit


def test_wrong_password_shows_an_error_and_signs_no_one_in(client):
    personal_account(email="ana@example.com")
    response = client.post(
        reverse("dashboard:login"), {"username": "ana@example.com", "password": "nope"}
    )
    assert response.status_code == 200
    assert "correct" in response.content.decode()  # Django's "enter a correct e-mail…"
    assert "_auth_user_id" not in client.session


def test_home_never_shows_accounts_of_other_people(client):
    mine = personal_account()
    other = personal_account()
    stranger_company = company_account()
    MembershipFactory(company=stranger_company.company)  # someone else's member
    client.force_login(mine.user)
    page = client.get(reverse("dashboard:home"), follow=True).content.decode()
    assert other.name not in page and stranger_company.name not in page


def test_sign_out_is_a_post(client):
    account = personal_account()
    client.force_login(account.user)
    asked = client.get(reverse("dashboard:logout"))
    assert asked.status_code == 200 and "Sign out?" in asked.content.decode()
    assert "_auth_user_id" in client.session  # a GET signs no one out
    assert client.post(reverse("dashboard:logout")).status_code == 302
    assert "_auth_user_id" not in client.session


def test_sign_in_ignores_the_case_of_the_email(client):
    personal_account(email="ana@example.com")
    response = client.post(
        reverse("dashboard:login"), {"username": "Ana@Example.COM", "password": "pw"}
    )
    assert response.status_code == 302
    assert "_auth_user_id" in client.session
