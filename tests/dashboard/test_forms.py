"""Money inputs: one message per problem, in the user's words, value kept."""

import html
import re

import pytest
from django.urls import reverse

from billing.models import OverageConsent
from dashboard.forms import ConsentForm
from store.models import Theme
from tests.factories.accounts import UserFactory
from tests.factories.store import GOOD_CSS, GOOD_TOKENS

pytestmark = pytest.mark.django_db

NOT_PLAIN = "Enter the amount as a plain number of dollars, e.g. 25 or 25.50."
CAP_RANGE = "The cap must be between $0.01 and $100,000.00."


def post_cap(client, account, cap, scope="period"):
    return client.post(
        reverse("dashboard:user-overage", args=[account.pk]),
        {"meter": "bandwidth", "cap": cap, "scope": scope},
    )


def bandwidth_card(response) -> str:
    page = response.content.decode()
    return page.split('id="meter-bandwidth"')[1].split("</section>")[0]


def tag(markup: str, pattern: str) -> dict[str, str]:
    """The attributes of the first tag matching ``pattern``."""
    found = re.search(pattern, markup)
    assert found, pattern
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'([\w-]+)="([^"]*)"', found.group(0))
    }


@pytest.mark.parametrize(
    ("cap", "message"),
    [
        ("1e3", NOT_PLAIN),
        ("abc", NOT_PLAIN),
        ("NaN", NOT_PLAIN),
        ("12.345", "Use at most two decimals (cents)."),
        ("-5", CAP_RANGE),
        ("9" * 40, CAP_RANGE),
        ("100000.01", CAP_RANGE),
        ("0", CAP_RANGE),
        ("", "Enter an amount, e.g. 25.00."),
    ],
)
def test_a_bad_cap_gets_one_clear_message_next_to_the_typed_value(
    client, me, cap, message
):
    response = post_cap(client, me, cap)

    assert response.status_code == 422
    assert not OverageConsent.objects.filter(account=me).exists()
    card = bandwidth_card(response)
    errors = re.findall(r'<p class="field-error" id="([^"]+)">([^<]*)</p>', card)
    assert [(i, html.unescape(m)) for i, m in errors] == [
        ("bandwidth-cap_error", message)
    ]
    assert 'class="form-error"' not in card
    field = tag(card, r'<input[^>]*name="cap"[^>]*>')
    # A text input: a number input would have dropped "abc" and taken "1e3".
    assert (field["type"], field["value"]) == ("text", cap)
    assert field["aria-invalid"] == "true"
    assert "bandwidth-cap_error" in field["aria-describedby"].split()


def test_plain_amounts_are_stored_as_cents(client, me):
    stored = []
    for cap in ["25", "25.5", "25.50", "$1,000.50"]:
        response = post_cap(client, me, cap)
        assert response.status_code == 302, cap
        stored.append(OverageConsent.objects.get(revoked_at__isnull=True).cap_cents)

    assert stored == [2500, 2550, 2550, 100050]


@pytest.mark.parametrize(
    "cap",
    ["1,2,3", "--5", "+5", "Infinity", "1 000", "12.3.4", "10,00", "２５", "$-5"],
)
def test_only_plain_decimal_dollars_are_amounts(cap):
    form = ConsentForm({"meter": "bandwidth", "cap": cap, "scope": "period"})

    assert form.errors == {"cap": [NOT_PLAIN]}


def test_a_pasted_million_digit_number_is_simply_out_of_range():
    form = ConsentForm(
        {"meter": "bandwidth", "cap": "9" * 1_000_001, "scope": "period"}
    )

    assert form.errors == {"cap": [CAP_RANGE]}


def test_the_cap_field_says_which_amounts_it_takes(client, me):
    card = bandwidth_card(client.get(reverse("dashboard:user-overage", args=[me.pk])))

    help_text = re.search(r'id="bandwidth-cap_helptext">([^<]*)<', card)
    assert help_text and "e.g. 25 or 25.50" in html.unescape(help_text.group(1))
    field = tag(card, r'<input[^>]*name="cap"[^>]*>')
    assert "bandwidth-cap_helptext" in field["aria-describedby"].split()
    assert "aria-invalid" not in field


def test_an_unknown_scope_is_explained(client, me):
    response = post_cap(client, me, "25", scope="forever")

    assert response.status_code == 422
    assert not OverageConsent.objects.exists()
    assert "Choose how long the consent lasts." in bandwidth_card(response)


def test_the_theme_price_refuses_an_exponent_with_the_same_words(client):
    client.force_login(UserFactory())
    data = {"name": "Dusk", "description": "", "price": "1e3", "css": GOOD_CSS}

    response = client.post(reverse("dashboard:store-submit"), data | GOOD_TOKENS)

    assert not Theme.objects.exists()
    page = html.unescape(response.content.decode())
    assert page.count(NOT_PLAIN) == 1
    assert 'class="field-error"' in page and page.count('class="field-error"') == 1
    field = tag(page, r'<input[^>]*name="price"[^>]*>')
    assert (field["type"], field["value"]) == ("text", "1e3")


def test_the_theme_price_is_stored_in_cents_up_to_the_store_limit(client):
    user = UserFactory()
    client.force_login(user)
    url = reverse("dashboard:store-submit")
    data = {"name": "Dusk", "description": "", "css": GOOD_CSS} | GOOD_TOKENS

    refused = client.post(url, data | {"price": "1000.01"})
    client.post(url, data | {"price": "$1,000"})

    assert "The price must be between $0.00 and $1,000.00." in html.unescape(
        refused.content.decode()
    )
    assert list(Theme.objects.values_list("price_cents", flat=True)) == [100_000]
