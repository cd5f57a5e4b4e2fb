"""The Buy packs page as a buyer reads it: what one-time and subscription
mean, how their prices compare, and who may buy."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from billing.models import Pack
from billing.selectors import list_catalogue, pack_counterparts
from billing.selectors import purchases as purchase_rules
from tests.factories.accounts import MembershipFactory
from tests.factories.billing import PackFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.time_machine(datetime(2026, 6, 10, 12, tzinfo=UTC)),
]

NOTICE = "Only owners and admins of"


def _packs_page(client, account, **params) -> str:
    url = reverse("dashboard:user-packs", args=[account.pk])
    return client.get(url, params).content.decode()


def _card(page: str, code: str) -> str:
    """The HTML of one pack's card."""
    return page.split(f'id="pack-{code}"', 1)[1].split('<li class="pack"', 1)[0]


def test_cards_explain_each_kind_with_the_reminder_and_renewal_days(client, my_company):
    page = _packs_page(client, my_company)

    subscription = _card(page, "storage-50gb-sub")
    assert "A renewable 365-day term." in subscription
    assert "We remind you 7 days and 1 day before it ends" in subscription
    assert "from 30 days before it ends until 30 days after" in subscription
    assert "no gap, no automatic charge" in subscription
    slots = _card(page, "slots-5-sub")  # a 30-day term: renewable from its start
    assert "any time until 30 days after it ends" in slots

    one_time = _card(page, "storage-50gb-once")
    assert "A single 365-day term, then it is gone: no reminders, no renewal." in (
        one_time
    )
    assert "remind you" not in one_time


def test_the_explanation_follows_the_reminder_and_renewal_rules(
    client, my_company, monkeypatch
):
    monkeypatch.setattr(
        purchase_rules,
        "REMINDERS",
        [(timedelta(days=3), "3d"), (timedelta(days=14), "14d")],
    )
    monkeypatch.setattr(purchase_rules, "RENEWAL_WINDOW", timedelta(days=45))

    card = _card(_packs_page(client, my_company), "storage-50gb-sub")

    assert "We remind you 14 days and 3 days before it ends" in card
    assert "from 45 days before it ends until 45 days after" in card
    assert "7 days" not in card and "30 days" not in card


def test_seeded_subscriptions_cost_less_per_term_than_their_one_time_pack():
    packs = list(list_catalogue())
    others = pack_counterparts(packs=packs)

    assert len(packs) == 14
    for pack in packs:
        other = others[pack.pk]  # every seeded pack is sold in both kinds
        assert other.term_days == pack.term_days
        assert other.is_subscription != pack.is_subscription
        once, sub = (other, pack) if pack.is_subscription else (pack, other)
        assert sub.price_cents < once.price_cents, (sub.code, once.code)


def test_cards_say_what_the_other_kind_costs(client, my_company):
    page = _packs_page(client, my_company)

    assert "$2.00 less per term than the one-time pack: a reward for renewing." in (
        _card(page, "storage-50gb-sub")  # $18.00 against $20.00
    )
    assert (
        "The subscription costs $5.00 less per term and never charges by itself."
        in _card(page, "slots-5-once")  # $25.00 against $20.00
    )


def test_a_dearer_subscription_says_what_the_extra_pays_for(client, me):
    lines = {"bandwidth": 7 * 10**9}
    PackFactory(code="bw-7-once", price_cents=500, lines=lines)
    PackFactory(code="bw-7-sub", price_cents=650, subscription=True, lines=lines)

    page = _packs_page(client, me, meter="bandwidth")

    assert "$1.50 more per term than the one-time pack, for reminders and renewal." in (
        _card(page, "bw-7-sub")
    )
    assert "$1.50 less than the subscription" in _card(page, "bw-7-once")


def test_a_member_sees_one_notice_naming_whom_to_ask_and_no_buy_button(
    client, member_company
):
    owner = member_company.company.memberships.get(role="owner").user
    admin = MembershipFactory(company=member_company.company, admin=True).user

    page = _packs_page(client, member_company)

    assert page.count(NOTICE) == 1
    assert f"{NOTICE} {member_company.name} can buy or renew packs" in page
    assert page.index(owner.name) < page.index(admin.name)  # owners first
    assert f'href="mailto:{owner.email}"' in page
    assert "Only owners and admins can buy." not in page
    assert ">Buy<" not in page
    assert reverse(
        "dashboard:user-buy", args=[member_company.pk, "slots-5-once"]
    ) not in (page)
    card = _card(page, "slots-5-sub")
    assert "$20.00" in card and "A renewable 30-day term." in card


def test_an_owner_sees_buy_buttons_and_no_notice(client, my_company):
    page = _packs_page(client, my_company)

    assert NOTICE not in page
    for pack in Pack.objects.filter(is_active=True):
        buy = reverse("dashboard:user-buy", args=[my_company.pk, pack.code])
        assert f'href="{buy}"' in _card(page, pack.code)


def test_the_member_page_queries_stay_few(
    client, member_company, django_assert_max_num_queries
):
    MembershipFactory.create_batch(3, company=member_company.company, admin=True)
    url = reverse("dashboard:user-packs", args=[member_company.pk])
    client.get(url)
    # 13: the tax the prices carry reads the billing details and the rate.
    with django_assert_max_num_queries(13):
        assert client.get(url).status_code == 200


def test_a_personal_account_owner_sees_no_notice(client, me):
    page = _packs_page(client, me)

    assert NOTICE not in page
    assert ">Buy<" in page
