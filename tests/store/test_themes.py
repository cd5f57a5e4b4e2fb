"""Submission, checks, edits and staff review (services and Django admin)."""

import pytest
from django.urls import reverse

from billing.errors import PermissionDenied
from store.errors import InvalidTheme, NotReviewable
from store.models import Theme
from store.selectors import list_listed_themes
from store.services.themes import (
    ImageUpload,
    ThemeContent,
    approve_theme,
    reject_theme,
    submit_theme,
    update_theme,
)
from tests.factories.accounts import StaffUserFactory, UserFactory
from tests.factories.store import GOOD_CSS, GOOD_TOKENS, ThemeFactory

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100


def content(**overrides):
    values = {
        "name": "Dusk",
        "description": "",
        "price_cents": 900,
        "css": GOOD_CSS,
        "tokens": dict(GOOD_TOKENS),
    }
    values.update(overrides)
    return ThemeContent(**values)


def test_a_theme_passing_every_check_goes_to_review_unlisted():
    theme = submit_theme(actor=UserFactory(), content=content())
    assert theme.status == Theme.Status.IN_REVIEW
    assert theme.checks_passed
    assert theme not in list_listed_themes()


def test_a_failing_theme_cannot_reach_review_or_approval():
    theme = submit_theme(
        actor=UserFactory(),
        content=content(tokens={**GOOD_TOKENS, "text": "#cccccc"}),
    )
    assert theme.status == Theme.Status.CHANGES_NEEDED
    with pytest.raises(NotReviewable):
        approve_theme(theme=theme, actor=StaffUserFactory(perms=["store.review_theme"]))


def test_bad_fields_are_all_reported_at_once():
    with pytest.raises(InvalidTheme) as excinfo:
        submit_theme(
            actor=UserFactory(),
            content=content(name=" ", price_cents=-1, tokens={"bg": "blue"}),
            images=[ImageUpload(data=b"GIF? no")],
        )
    assert {"name", "price", "bg", "images"} <= set(excinfo.value.details)


def test_oversized_preview_images_fail_the_check_not_the_upload():
    theme = submit_theme(
        actor=UserFactory(),
        content=content(),
        images=[ImageUpload(data=PNG + b"\0" * 400_000, alt="home")],
    )
    assert theme.status == Theme.Status.CHANGES_NEEDED
    failed = [c["code"] for c in theme.check_report if not c["passed"]]
    assert failed == ["preview_images"]


def test_fix_and_resubmit_reaches_review():
    creator = UserFactory()
    theme = submit_theme(actor=creator, content=content(css="@import 'x.css';"))
    assert theme.status == Theme.Status.CHANGES_NEEDED
    theme = update_theme(theme=theme, actor=creator, content=content())
    assert theme.status == Theme.Status.IN_REVIEW


def test_approval_lists_the_theme_and_freezes_its_stylesheet():
    theme = submit_theme(actor=UserFactory(), content=content())
    approve_theme(theme=theme, actor=StaffUserFactory(perms=["store.review_theme"]))
    theme.refresh_from_db()
    assert theme in list_listed_themes()
    assert "--accent: #1d4ed8;" in theme.published_stylesheet
    assert "--accent-text: #ffffff;" in theme.published_stylesheet


def test_editing_a_listed_themes_css_rechecks_and_returns_it_to_review():
    theme = ThemeFactory()
    published = theme.published_stylesheet
    update_theme(
        theme=theme, actor=theme.creator, content=content(name=theme.name, css=".x{}")
    )
    theme.refresh_from_db()
    assert theme.status == Theme.Status.IN_REVIEW
    assert theme not in list_listed_themes()
    assert theme.published_stylesheet == published  # buyers keep what was approved


def test_a_price_change_alone_keeps_the_theme_listed():
    theme = ThemeFactory(css=GOOD_CSS, tokens=dict(GOOD_TOKENS), description="")
    update_theme(
        theme=theme,
        actor=theme.creator,
        content=content(name=theme.name, price_cents=99),
    )
    theme.refresh_from_db()
    assert (theme.status, theme.price_cents) == (Theme.Status.APPROVED, 99)


def test_only_the_creator_edits_and_only_staff_review():
    theme = ThemeFactory(in_review=True)
    with pytest.raises(PermissionDenied):
        update_theme(theme=theme, actor=UserFactory(), content=content())
    with pytest.raises(PermissionDenied):
        approve_theme(theme=theme, actor=UserFactory())


def test_rejection_needs_a_reason_the_creator_sees():
    theme = ThemeFactory(in_review=True)
    staff = StaffUserFactory(perms=["store.review_theme"])
    with pytest.raises(InvalidTheme):
        reject_theme(theme=theme, actor=staff, reason=" ")
    reject_theme(theme=theme, actor=staff, reason="Fonts are blurry.")
    theme.refresh_from_db()
    assert (theme.status, theme.review_note) == (
        Theme.Status.REJECTED,
        "Fonts are blurry.",
    )


def test_staff_approve_and_reject_in_django_admin(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    first, second = ThemeFactory(in_review=True), ThemeFactory(in_review=True)
    url = reverse("admin:store_theme_changelist")

    client.post(url, {"action": "approve", "_selected_action": [first.pk]})
    asking = client.post(url, {"action": "reject", "_selected_action": [second.pk]})
    assert b"Reject themes" in asking.content
    client.post(
        url,
        {
            "action": "reject",
            "_selected_action": [second.pk],
            "confirm": "yes",
            "reason": "Too similar to Nightfall.",
        },
    )

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Theme.Status.APPROVED
    assert (second.status, second.review_note) == (
        "rejected",
        "Too similar to Nightfall.",
    )
    change = client.get(reverse("admin:store_theme_change", args=[first.pk]))
    assert change.status_code == 200


def test_the_rejection_reason_shows_on_the_creators_page(client):
    theme = ThemeFactory(rejected=True)
    client.force_login(theme.creator)
    page = client.get(reverse("dashboard:store-creator-theme", args=[theme.pk]))
    assert theme.review_note in page.content.decode()
