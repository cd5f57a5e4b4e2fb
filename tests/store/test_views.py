"""Store pages: what a signed-in user sees and may do, with query counts pinned."""

import pytest
from django.urls import reverse

from store.models import AppliedTheme, Sale, Theme, ThemeImage
from tests.factories.accounts import StaffUserFactory, UserFactory
from tests.factories.store import GOOD_CSS, GOOD_TOKENS, BundleFactory, ThemeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def buyer(client):
    user = UserFactory()
    client.force_login(user)
    return user


def form_data(**overrides):
    data = {"name": "Dusk", "description": "Calm.", "price": "12.50", "css": GOOD_CSS}
    data.update(GOOD_TOKENS)
    data.update(overrides)
    return data


def test_the_store_lists_only_approved_themes_in_constant_queries(
    client, buyer, django_assert_max_num_queries
):
    ThemeFactory.create_batch(3)
    ThemeFactory(name="Secret draft", in_review=True)
    BundleFactory(themes=ThemeFactory.create_batch(2))
    BundleFactory(ended=True)

    with django_assert_max_num_queries(9):
        response = client.get(reverse("dashboard:store-themes"))

    assert response.status_code == 200
    content = response.content.decode()
    assert "Secret draft" not in content
    assert content.count("store-card") == 5 + 2
    assert "Ended" in content


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("dashboard:store-themes"))
    assert response.status_code == 302
    assert reverse("dashboard:login") in response["Location"]


def test_an_unlisted_theme_is_hidden_from_other_users(client, buyer):
    draft = ThemeFactory(in_review=True)
    url = reverse("dashboard:store-theme", args=[draft.pk])
    assert client.get(url).status_code == 404
    client.force_login(draft.creator)
    assert client.get(url).status_code == 200


def test_only_reviewers_see_a_theme_in_review_and_its_unchecked_draft(client):
    draft = ThemeFactory(in_review=True)
    page = reverse("dashboard:store-theme", args=[draft.pk])
    css = reverse("dashboard:store-theme-css", args=[draft.pk]) + "?draft=1"
    client.force_login(StaffUserFactory(perms=["store.view_theme"]))
    assert client.get(page).status_code == 404
    assert client.get(css).status_code == 404
    client.force_login(StaffUserFactory(perms=["store.review_theme"]))
    assert client.get(page).status_code == 200
    assert client.get(css).status_code == 200


def confirm_url(theme):
    return reverse("dashboard:store-theme-confirm", args=[theme.pk])


def test_the_theme_pages_buy_button_is_a_link_to_its_confirmation_page(client, buyer):
    theme = ThemeFactory(price_cents=1500)

    page = client.get(reverse("dashboard:store-theme", args=[theme.pk])).content
    html = page.decode()

    assert f'href="{confirm_url(theme)}">Buy for $15.00</a>' in html
    assert 'name="token"' not in html  # nothing on this page can charge
    assert not Sale.objects.exists()


def test_buying_twice_is_refused_with_a_clear_message(client, buyer):
    theme = ThemeFactory()
    client.post(confirm_url(theme), {"token": "a" * 20})

    again = client.post(confirm_url(theme), {"token": "b" * 20})

    assert f"You already own {theme.name}" in again.content.decode()
    assert 'name="token"' not in again.content.decode()
    assert Sale.objects.filter(account__user=buyer).count() == 1


def test_applying_an_owned_theme_links_its_stylesheet_on_every_page(
    client, buyer, django_assert_max_num_queries
):
    theme = ThemeFactory()
    client.post(confirm_url(theme), {"token": "d" * 20})
    client.post(reverse("dashboard:store-library"), {"theme": str(theme.pk)})

    page = client.get(reverse("dashboard:store-library"))
    css_url = reverse("dashboard:store-theme-css", args=[theme.pk])
    assert f'href="{css_url}?v=' in page.content.decode()
    css = client.get(css_url)
    assert css["Content-Type"].startswith("text/css")
    assert GOOD_TOKENS["accent"] in css.content.decode()

    client.post(reverse("dashboard:store-library"), {"theme": "default"})
    assert (
        css_url not in client.get(reverse("dashboard:store-library")).content.decode()
    )


def test_applying_a_theme_one_does_not_own_is_refused(client, buyer):
    theme = ThemeFactory()
    response = client.post(
        reverse("dashboard:store-library"), {"theme": str(theme.pk)}, follow=True
    )
    assert "You need a live licence" in response.content.decode()
    assert not AppliedTheme.objects.exists()


def test_submitting_a_theme_shows_its_report(client, buyer):
    response = client.post(reverse("dashboard:store-submit"), form_data(), follow=True)

    theme = Theme.objects.get(creator=buyer)
    assert theme.status == Theme.Status.IN_REVIEW
    assert theme.price_cents == 1250
    content = response.content.decode()
    assert "Check report" in content
    assert "Text contrast" in content


def test_a_failing_submission_says_what_to_fix(client, buyer):
    response = client.post(
        reverse("dashboard:store-submit"),
        form_data(muted="#aaaaaa", css="@import url(x.css);"),
        follow=True,
    )

    theme = Theme.objects.get(creator=buyer)
    assert theme.status == Theme.Status.CHANGES_NEEDED
    content = response.content.decode()
    assert "How to fix" in content
    assert "No @import" in content
    assert "Muted text contrast" in content


def test_another_users_submission_is_not_found(client, buyer):
    theme = ThemeFactory(changes_needed=True)
    url = reverse("dashboard:store-creator-theme", args=[theme.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, form_data()).status_code == 404
    assert Theme.objects.get(pk=theme.pk).name == theme.name


def test_editing_a_listed_theme_puts_it_back_in_review_over_htmx(client):
    theme = ThemeFactory()
    client.force_login(theme.creator)

    response = client.post(
        reverse("dashboard:store-creator-theme", args=[theme.pk]),
        form_data(name=theme.name, css=GOOD_CSS + ".x { color: #b91c1c; }"),
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<div id="theme-report"')
    theme.refresh_from_db()
    assert theme.status == Theme.Status.IN_REVIEW


def test_the_check_report_is_a_partial_for_htmx_and_whole_for_history_restore(
    client,
):
    theme = ThemeFactory()
    client.force_login(theme.creator)
    url = reverse("dashboard:store-creator-theme", args=[theme.pk])

    whole = client.get(url)
    partial = client.get(url, headers={"HX-Request": "true"})
    restored = client.get(
        url, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )

    assert "<html" in whole.content.decode()
    assert partial.content.decode().lstrip().startswith('<div id="theme-report"')
    assert "<html" in restored.content.decode()
    assert 'id="theme-report"' in restored.content.decode()
    for response in (whole, partial, restored):
        assert "HX-Request" in response["Vary"]


def test_a_preview_image_is_served_only_with_its_own_theme(client, buyer):
    theme, other = ThemeFactory(), ThemeFactory()
    image = ThemeImage.objects.create(
        theme=theme, content_type="image/png", data=b"\x89PNG", size_bytes=4
    )

    own = client.get(reverse("dashboard:store-theme-image", args=[theme.pk, image.pk]))
    elsewhere = client.get(
        reverse("dashboard:store-theme-image", args=[other.pk, image.pk])
    )

    assert (own.status_code, own.content) == (200, b"\x89PNG")
    assert elsewhere.status_code == 404


def test_applying_a_theme_that_does_not_exist_is_not_found(client, buyer):
    response = client.post(reverse("dashboard:store-library"), {"theme": "999999"})
    assert response.status_code == 404
    assert not AppliedTheme.objects.filter(user=buyer).exists()


def test_earnings_page_shows_sales_and_tier(
    client, buyer, django_assert_max_num_queries
):
    theme = ThemeFactory(price_cents=1000)
    client.post(confirm_url(theme), {"token": "e" * 20})
    client.force_login(theme.creator)

    with django_assert_max_num_queries(12):
        response = client.get(reverse("dashboard:store-earnings"))

    content = response.content.decode()
    assert "70% to you" in content
    assert "$7.00" in content  # 70% of $10.00


def test_payouts_page_is_for_staff_only(client, buyer):
    url = reverse("dashboard:store-payouts")
    assert client.get(url).status_code == 404  # a signed-in non-staff user
    client.logout()
    anonymous = client.get(url)
    assert anonymous.url.startswith(reverse("dashboard:login"))
    client.force_login(StaffUserFactory())
    assert client.get(url).status_code == 403  # staff, but not store.view_payouts
    client.force_login(StaffUserFactory(perms=["store.view_payouts"]))
    assert client.get(url).status_code == 200


def test_applying_a_theme_never_redirects_off_site(client, buyer):
    response = client.post(
        reverse("dashboard:store-library"),
        {"theme": "default", "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert response.url == reverse("dashboard:store-library")
    response = client.post(
        reverse("dashboard:store-library"),
        {"theme": "default", "next": reverse("dashboard:store-themes")},
    )
    assert response.url == reverse("dashboard:store-themes")
