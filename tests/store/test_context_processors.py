"""The applied theme's stylesheet on every page, in at most one query."""

import pytest
from django.test import RequestFactory

from store.context_processors import active_theme
from store.services.sales import apply_theme, purchase_theme
from tests.factories.accounts import UserFactory
from tests.factories.store import ThemeFactory

pytestmark = pytest.mark.django_db


def context_for(user):
    request = RequestFactory().get("/")
    request.user = user
    return active_theme(request)


def test_one_query_for_a_user_with_a_theme(django_assert_num_queries):
    user, theme = UserFactory(), ThemeFactory()
    purchase_theme(actor=user, theme=theme, idempotency_key="k")
    apply_theme(actor=user, theme=theme)

    with django_assert_num_queries(1):
        context = context_for(user)

    assert context["theme_stylesheet_url"].startswith(
        f"/store/themes/{theme.pk}/theme.css?v="
    )


def test_no_theme_and_one_query_for_a_user_without_one(django_assert_num_queries):
    user = UserFactory()
    with django_assert_num_queries(1):
        assert context_for(user) == {}


def test_no_query_for_anonymous_visitors(django_assert_num_queries):
    from django.contrib.auth.models import AnonymousUser

    with django_assert_num_queries(0):
        assert context_for(AnonymousUser()) == {}
