import pytest

from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_signing_in_shows_the_personal_account(sign_in):
    user = UserFactory(email="e2e@example.com")
    page = sign_in(user.email)
    assert page.get_by_role("heading", level=1).inner_text() != ""
    assert "e2e@example.com" in page.content()
