"""The charge ledger in the admin: read-only rows, and the refund form (one
charge, the amount, the two texts) calling the refund service.
"""

from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from billing.models import (
    ChargeRecord,
    Purchase,
)
from billing.services.packs import purchase_pack
from billing.units import GB
from tests.factories.accounts import UserFactory
from tests.factories.billing import (
    ChargeRecordFactory,
    PackFactory,
    company_account,
    owner_of,
    personal_account,
)

from .helpers import (
    buy,
    history,
    message_texts,
    run_action,
    storage_limit,
    url,
)

pytestmark = pytest.mark.django_db


BOUGHT = datetime(2026, 4, 1, tzinfo=UTC)


HALFWAY = datetime(2026, 4, 16, tzinfo=UTC)  # 15 of 30 days left


CHANGELIST = reverse("admin:billing_chargerecord_changelist")


@pytest.fixture
def bought():
    """A 30-day storage pack for $20.00, bought on 1 April."""
    account = personal_account()
    pack = PackFactory(lines={"storage": 10**9}, price_cents=2000, term_days=30)
    with time_machine.travel(BOUGHT, tick=False):
        return purchase_pack(
            account=account, pack=pack, actor=owner_of(account), idempotency_key="k"
        )


def post_action(client, charges, **data):
    body = {
        "action": "refund_selected",
        "_selected_action": [c.pk for c in charges],
        **data,
    }
    with time_machine.travel(HALFWAY, tick=False):
        return client.post(CHANGELIST, body, follow=True)


def confirm(client, charge, **data):
    return post_action(client, [charge], confirm="yes", **data)


def messages_of(response, level=None):
    return [
        str(m)
        for m in get_messages(response.wsgi_request)
        if level is None or m.level_tag == level
    ]


def test_refund_action_adds_a_negative_row_and_revokes_the_grants(admin_client):
    account = personal_account()
    bought = buy(account)
    assert storage_limit(account) == 52 * GB

    response = run_action(
        admin_client,
        ChargeRecord,
        "refund_selected",
        [bought.charge],
        reason="customer asked",
    )

    refund = ChargeRecord.objects.get(refund_of=bought.charge)
    assert refund.kind == ChargeRecord.Kind.REFUND
    assert refund.amount_cents == -bought.charge.amount_cents == -2000
    assert refund.created_by.email == "admin@example.com"
    assert refund.customer_reason == "customer asked"
    bought.purchase.refresh_from_db()
    assert bought.purchase.status == Purchase.Status.REFUNDED
    assert not bought.purchase.grants.filter(revoked_at__isnull=True).exists()
    assert storage_limit(account) == 2 * GB
    assert any("refunded $20.00" in text for text in message_texts(response))
    assert history(bought.charge) == [f"Refunded $20.00: #{refund.pk}."]


def test_refund_action_first_asks_for_a_reason_and_changes_nothing(admin_client):
    bought = buy(personal_account())

    response = admin_client.post(
        url(ChargeRecord, "changelist"),
        {
            "action": "refund_selected",
            "_selected_action": [bought.charge.pk],
            "index": "0",
        },
    )

    assert response.status_code == 200
    assert 'name="reason"' in response.content.decode()
    assert not ChargeRecord.objects.filter(refund_of=bought.charge).exists()


def test_refund_without_a_reason_is_asked_again(admin_client):
    bought = buy(personal_account())

    response = run_action(
        admin_client, ChargeRecord, "refund_selected", [bought.charge]
    )

    assert "This field is required" in response.content.decode()
    assert not ChargeRecord.objects.filter(refund_of=bought.charge).exists()


def test_refunding_twice_reports_an_error_and_adds_nothing(admin_client):
    bought = buy(personal_account())
    run_action(
        admin_client, ChargeRecord, "refund_selected", [bought.charge], reason="x"
    )
    rows = ChargeRecord.objects.count()

    response = run_action(
        admin_client, ChargeRecord, "refund_selected", [bought.charge], reason="again"
    )

    assert ChargeRecord.objects.count() == rows
    errors = [
        str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "error"
    ]
    assert errors == [f"{bought.charge}: This charge was already refunded or voided."]


def test_refunding_a_refund_row_is_refused(admin_client):
    bought = buy(personal_account())
    run_action(
        admin_client, ChargeRecord, "refund_selected", [bought.charge], reason="x"
    )
    refund = ChargeRecord.objects.get(refund_of=bought.charge)

    response = run_action(
        admin_client, ChargeRecord, "refund_selected", [refund], reason="x"
    )

    assert any("cannot be refunded" in text for text in message_texts(response))
    assert ChargeRecord.objects.filter(refund_of=refund).count() == 0


def test_charge_change_page_is_read_only(admin_client):
    charge = buy(personal_account()).charge

    page = admin_client.get(url(ChargeRecord, "change", charge.pk))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="_save"' not in html
    assert "$20.00" in html

    post = admin_client.post(
        url(ChargeRecord, "change", charge.pk),
        {"amount_cents": "1", "status": "void", "description": "edited"},
    )
    assert post.status_code == 403
    charge.refresh_from_db()
    assert (charge.amount_cents, charge.status) == (2000, ChargeRecord.Status.PAID)


def test_charges_cannot_be_added_or_deleted(admin_client):
    charge = ChargeRecordFactory()
    assert admin_client.get(url(ChargeRecord, "add")).status_code == 403
    assert admin_client.get(url(ChargeRecord, "delete", charge.pk)).status_code == 403
    response = admin_client.get(url(ChargeRecord, "changelist"))
    assert "delete_selected" not in response.content.decode()


def test_a_view_only_staff_user_sees_charges_but_cannot_refund():
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_chargerecord"))
    bought = buy(personal_account())
    client = Client()
    client.force_login(staff)

    page = client.get(url(ChargeRecord, "changelist"))
    assert page.status_code == 200
    assert "refund_selected" not in page.content.decode()

    run_action(client, ChargeRecord, "refund_selected", [bought.charge], reason="x")
    assert not ChargeRecord.objects.filter(refund_of=bought.charge).exists()


def test_charge_changelist_filters_and_searches(admin_client):
    ChargeRecordFactory(description="needle in the ledger")
    ChargeRecordFactory(description="other")

    found = admin_client.get(url(ChargeRecord, "changelist"), {"q": "needle"})
    assert "needle in the ledger" in found.content.decode()
    assert ">other<" not in found.content.decode()

    filtered = admin_client.get(
        url(ChargeRecord, "changelist"),
        {"kind__exact": "refund", "status__exact": "paid"},
    )
    assert filtered.status_code == 200
    assert "needle" not in filtered.content.decode()


def test_charge_changelist_does_no_query_per_row(
    admin_client, django_assert_max_num_queries
):
    accounts = [personal_account() for _ in range(4)]
    for i in range(5):
        for account in accounts:
            buy(account, key=f"k-{account.pk}-{i}")
    for account in accounts:  # refunds render a link to their original
        charge = account.charges.first()
        run_action(admin_client, ChargeRecord, "refund_selected", [charge], reason="r")
    assert ChargeRecord.objects.count() >= 24

    with django_assert_max_num_queries(10):
        response = admin_client.get(url(ChargeRecord, "changelist"))
    assert response.status_code == 200


def test_the_form_prefills_the_full_price_and_offers_the_pro_rata(admin_client, bought):
    response = post_action(admin_client, [bought.charge])

    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="amount"' in html and 'value="20.00"' in html
    assert 'name="pro_rata_cents" value="1000"' in html
    assert "Refund the pro-rata $10.00" in html
    assert "15.0 of 30 days" in html
    assert 'name="reason"' in html and 'name="staff_note"' in html
    assert not ChargeRecord.objects.filter(refund_of=bought.charge).exists()


def test_the_pro_rata_button_refunds_its_amount(admin_client, bought):
    response = confirm(
        admin_client,
        bought.charge,
        amount="20.00",
        pro_rata_cents="1000",
        reason="Half the term unused",
        staff_note="Ticket 99",
    )

    refund = ChargeRecord.objects.get(refund_of=bought.charge)
    assert refund.amount_cents == -1000
    assert (refund.customer_reason, refund.staff_note) == (
        "Half the term unused",
        "Ticket 99",
    )
    assert refund.created_by.email == "admin@example.com"
    assert messages_of(response, "success") == [f"{bought.charge}: refunded $10.00."]
    bought.purchase.refresh_from_db()
    assert bought.purchase.status == Purchase.Status.REFUNDED
    assert not bought.purchase.grants.filter(revoked_at__isnull=True).exists()


def test_a_typed_amount_is_refunded(admin_client, bought):
    confirm(admin_client, bought.charge, amount="7.50", reason="Goodwill")

    assert ChargeRecord.objects.get(refund_of=bought.charge).amount_cents == -750


def test_an_empty_amount_refunds_the_full_price(admin_client, bought):
    confirm(admin_client, bought.charge, amount="", reason="Mistake")

    assert ChargeRecord.objects.get(refund_of=bought.charge).amount_cents == -2000


def test_an_amount_above_the_price_is_refused_with_the_services_message(
    admin_client, bought
):
    response = confirm(admin_client, bought.charge, amount="25.00", reason="x")

    assert messages_of(response, "error") == [
        f"{bought.charge}: A refund of this charge is between $0.01 and $20.00"
        " (the amount charged), not $25.00."
    ]
    assert not ChargeRecord.objects.filter(refund_of=bought.charge).exists()
    assert not bought.purchase.grants.filter(revoked_at__isnull=False).exists()


def test_without_a_customer_reason_the_form_is_shown_again(admin_client, bought):
    response = confirm(admin_client, bought.charge, amount="20.00", staff_note="n")

    assert "This field is required" in response.content.decode()
    assert not ChargeRecord.objects.filter(refund_of=bought.charge).exists()


def test_one_charge_is_refunded_at_a_time(admin_client, bought):
    other = purchase_pack(
        account=bought.purchase.account,
        pack=bought.purchase.pack,
        actor=owner_of(bought.purchase.account),
        idempotency_key="k2",
    )

    response = post_action(
        admin_client, [bought.charge, other.charge], confirm="yes", reason="x"
    )

    assert messages_of(response, "warning") == ["Select exactly one charge to refund."]
    assert not ChargeRecord.objects.filter(kind=ChargeRecord.Kind.REFUND).exists()


def test_the_staff_note_shows_in_admin_and_the_reason_on_both_sides(
    admin_client, client, bought
):
    confirm(
        admin_client,
        bought.charge,
        reason="Sorry about the outage",
        staff_note="INTERNAL approved by Kim",
    )
    refund = ChargeRecord.objects.get(refund_of=bought.charge)

    refund_page = admin_client.get(
        reverse("admin:billing_chargerecord_change", args=[refund.pk])
    ).content.decode()
    original_page = admin_client.get(
        reverse("admin:billing_chargerecord_change", args=[bought.charge.pk])
    ).content.decode()
    assert "INTERNAL approved by Kim" in refund_page
    assert "Sorry about the outage" in refund_page
    assert "staff note: INTERNAL approved by Kim" in original_page

    account = bought.purchase.account
    client.force_login(account.user)
    billing = client.get(reverse("dashboard:user-billing", args=[account.pk]))
    assert "Sorry about the outage" in billing.content.decode()
    assert "INTERNAL" not in billing.content.decode()


@pytest.fixture
def slots_bought():
    """A 30-day pack of 5 job slots for $25.00, bought by a company on 1 April."""
    account = company_account()
    pack = PackFactory(
        slots=True, name="5 job slots", lines={"job_slots": 5}, price_cents=2500
    )
    with time_machine.travel(BOUGHT, tick=False):
        return purchase_pack(
            account=account, pack=pack, actor=owner_of(account), idempotency_key="s"
        )


def test_the_refund_page_shows_the_charge_as_money_with_what_was_bought(
    admin_client, slots_bought
):
    response = post_action(admin_client, [slots_bought.charge])

    html = response.content.decode()
    assert "Slot pack: 5 job slots · $25.00 · 1 Apr 2026 · paid" in html
    assert "2500c" not in html
    assert slots_bought.purchase.account.name in html


def test_charge_and_purchase_pages_show_money_not_cents(admin_client, slots_bought):
    charge_page = admin_client.get(
        reverse("admin:billing_chargerecord_change", args=[slots_bought.charge.pk])
    ).content.decode()
    purchase_page = admin_client.get(
        reverse("admin:billing_purchase_change", args=[slots_bought.purchase.pk])
    ).content.decode()

    assert "Slot pack: 5 job slots · $25.00" in charge_page
    assert "2500c" not in charge_page
    assert "$25.00" in purchase_page
    assert "Price cents" not in purchase_page


def test_refunding_an_unpaid_charge_voids_it_on_record(admin_client):
    charge = ChargeRecordFactory()  # pending: nothing was collected
    shown = str(charge)

    response = run_action(
        admin_client, ChargeRecord, "refund_selected", [charge], reason="mistake"
    )

    charge.refresh_from_db()
    assert charge.status == ChargeRecord.Status.VOID
    assert not ChargeRecord.objects.filter(refund_of=charge).exists()
    assert f"{shown}: voided (it was never paid)." in message_texts(response)
    assert history(charge) == ["Voided (it was never paid)."]
