from datetime import UTC, datetime, timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from billing.errors import (
    AlreadyRefunded,
    InvalidRequest,
    NotRenewable,
    PermissionDenied,
)
from billing.models import ChargeRecord, Grant, Pack, Purchase
from billing.selectors import account_quotas, outstanding_balance_cents
from billing.services.packs import (
    create_adjustment_grant,
    purchase_pack,
    refund_charge,
    renew_purchase,
    revoke_grant,
)
from billing.units import GB
from tests.factories.accounts import MembershipFactory, StaffUserFactory, UserFactory
from tests.factories.billing import (
    ChargeFactory,
    PackFactory,
    company_account,
    ending_soon,
    meter,
    owner_of,
    personal_account,
    shift_term,
)

pytestmark = pytest.mark.django_db

FREE_STORAGE = 2 * GB
FREE_SLOTS = 2


def _limit(account, code, *, at=None):
    for status in account_quotas(account=account, at=at):
        if status.meter.code == code:
            return status.limit
    raise AssertionError(f"no {code} quota")


def _storage_pack(**kwargs):
    kwargs.setdefault("price_cents", 2000)
    return PackFactory(lines={"storage": 50 * GB}, **kwargs)


def _buy(account, pack, *, token="token-1", user=None):
    return purchase_pack(
        account=account,
        pack=pack,
        user=user or owner_of(account),
        idempotency_key=token,
    )


def _staff():
    return StaffUserFactory(perms=["billing.refund_charge", "billing.adjust_grant"])


def _lapsed_purchase(account, pack, *, days_ago=10):
    """A purchase made a term ago whose grants have just run out."""
    expires_at = timezone.now() - timedelta(days=days_ago)
    starts_at = expires_at - timedelta(days=pack.term_days)
    purchase = Purchase.objects.create(
        account=account,
        pack=pack,
        status=Purchase.Status.COMPLETED,
        idempotency_key="lapsed",
        price_cents=pack.price_cents,
        starts_at=starts_at,
        expires_at=expires_at,
        created_at=starts_at,
    )
    for line in pack.allowances.all():
        Grant.objects.create(
            account=account,
            meter=line.meter,
            amount=line.amount,
            effective_at=starts_at,
            expires_at=expires_at,
            purchase=purchase,
        )
    return purchase


# Purchase ---------------------------------------------------------------


def test_buying_a_capacity_pack_records_purchase_grant_and_paid_charge():
    account = personal_account()
    pack = _storage_pack(price_cents=2000, term_days=365)
    before = timezone.now()

    result = _buy(account, pack)

    assert result.created is True
    assert result.approved is True
    purchase = result.purchase
    assert purchase.status == Purchase.Status.COMPLETED
    assert purchase.price_cents == 2000
    assert purchase.expires_at - purchase.starts_at == timedelta(days=365)
    assert before <= purchase.starts_at <= timezone.now()
    (grant,) = purchase.grants.all()
    assert (grant.meter.code, grant.amount) == ("storage", 50 * GB)
    assert grant.account == account
    assert grant.effective_at == purchase.starts_at
    assert grant.expires_at == purchase.expires_at
    (charge,) = account.charges.all()
    assert charge == result.charge
    assert charge.kind == ChargeRecord.Kind.CAPACITY_PACK
    assert charge.amount_cents == 2000
    assert charge.status == ChargeRecord.Status.PAID
    assert charge.paid_at is not None
    assert charge.purchase == purchase


def test_a_bought_pack_raises_the_limit():
    account = personal_account()
    assert _limit(account, "storage") == FREE_STORAGE

    _buy(account, _storage_pack())

    assert _limit(account, "storage") == FREE_STORAGE + 50 * GB


def test_a_bought_pack_stops_counting_after_its_term():
    account = personal_account()
    purchase = _buy(account, _storage_pack(term_days=30)).purchase

    assert _limit(account, "storage", at=purchase.expires_at) == FREE_STORAGE


def test_a_pack_with_several_lines_makes_one_grant_per_meter():
    account = personal_account()
    pack = PackFactory(lines={"storage": 10 * GB, "bandwidth": 20 * GB})

    purchase = _buy(account, pack).purchase

    grants = dict(purchase.grants.values_list("meter__code", "amount"))
    assert grants == {"storage": 10 * GB, "bandwidth": 20 * GB}
    assert _limit(account, "storage") == FREE_STORAGE + 10 * GB
    assert _limit(account, "bandwidth") == 5 * GB + 20 * GB


def test_buying_a_slot_pack_is_charged_as_a_slot_pack():
    account = company_account()
    pack = Pack.objects.get(code="slots-5-once")

    result = _buy(account, pack)

    assert result.charge.kind == ChargeRecord.Kind.SLOT_PACK
    assert result.charge.amount_cents == 2500
    assert result.purchase.expires_at - result.purchase.starts_at == timedelta(days=30)
    assert _limit(account, "job_slots") == FREE_SLOTS + 5


def test_slot_packs_are_refused_for_personal_accounts():
    account = personal_account()
    with pytest.raises(InvalidRequest, match="company accounts only"):
        _buy(account, Pack.objects.get(code="slots-5-once"))
    assert not account.purchases.exists() and not account.charges.exists()


def test_the_same_token_twice_makes_one_purchase_and_one_charge():
    account = personal_account()
    pack = _storage_pack()

    first = _buy(account, pack, token="double-submit")
    second = _buy(account, pack, token="double-submit")

    assert (first.created, second.created) == (True, False)
    assert second.purchase == first.purchase
    assert second.charge == first.charge
    assert account.purchases.count() == 1
    assert account.charges.count() == 1
    assert account.grants.count() == 1
    assert _limit(account, "storage") == FREE_STORAGE + 50 * GB


def test_different_tokens_buy_the_pack_twice():
    account = personal_account()
    pack = _storage_pack()

    _buy(account, pack, token="first")
    _buy(account, pack, token="second")

    assert account.charges.count() == 2
    assert _limit(account, "storage") == FREE_STORAGE + 100 * GB


def test_a_token_used_by_another_account_is_refused():
    account, other = personal_account(), personal_account()
    pack = _storage_pack()
    _buy(other, pack, token="shared")

    with pytest.raises(InvalidRequest):
        _buy(account, pack, token="shared")

    assert not account.purchases.exists()


def test_a_purchase_needs_a_token():
    account = personal_account()

    with pytest.raises(InvalidRequest):
        _buy(account, _storage_pack(), token="")

    assert not account.charges.exists()


def test_a_declined_payment_records_a_failed_charge_and_no_grant(settings):
    settings.BILLING_SANDBOX_DECLINE = True
    account = personal_account()

    result = _buy(account, _storage_pack())

    assert result.approved is False
    assert result.purchase.status == Purchase.Status.FAILED
    assert result.charge.status == ChargeRecord.Status.FAILED
    assert result.charge.failure_reason
    (charge,) = account.charges.all()
    assert charge.status == ChargeRecord.Status.FAILED
    assert charge.paid_at is None
    assert not account.grants.exists()
    assert _limit(account, "storage") == FREE_STORAGE
    assert outstanding_balance_cents(account=account) == 0


def test_an_inactive_pack_cannot_be_bought():
    account = personal_account()
    pack = _storage_pack(is_active=False)

    with pytest.raises(InvalidRequest) as excinfo:
        _buy(account, pack)

    assert excinfo.value.code == "invalid_request"
    assert not account.purchases.exists()
    assert not account.charges.exists()
    assert _limit(account, "storage") == FREE_STORAGE


def test_a_company_member_cannot_buy():
    account = company_account()
    member = MembershipFactory(company=account.company).user

    with pytest.raises(PermissionDenied) as excinfo:
        _buy(account, _storage_pack(), user=member)

    assert excinfo.value.code == "forbidden"
    assert not account.purchases.exists()
    assert not account.charges.exists()


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_company_owners_and_admins_can_buy(role):
    account = company_account()
    buyer = MembershipFactory(company=account.company, role=role).user

    result = _buy(account, _storage_pack(), user=buyer)

    assert result.approved is True
    assert result.purchase.bought_by == buyer
    assert _limit(account, "storage") == FREE_STORAGE + 50 * GB


def test_an_outsider_cannot_buy_for_a_company():
    account = company_account()

    with pytest.raises(PermissionDenied):
        _buy(account, _storage_pack(), user=UserFactory())

    assert not account.charges.exists()


def test_a_user_cannot_buy_for_someone_elses_personal_account():
    account = personal_account()
    stranger = UserFactory()

    with pytest.raises(PermissionDenied):
        _buy(account, _storage_pack(), user=stranger)

    assert not account.purchases.exists()
    assert not stranger.billing_account.purchases.exists()


# Renewal ----------------------------------------------------------------


def test_renewing_before_expiry_starts_at_the_old_expiry():
    account = personal_account()
    pack = _storage_pack(subscription=True, term_days=365)
    original = ending_soon(_buy(account, pack).purchase)

    renewal = renew_purchase(
        purchase=original, user=owner_of(account), idempotency_key="renew-1"
    ).purchase

    assert renewal.kind == Purchase.Kind.RENEWAL
    assert renewal.renewal_of == original
    assert renewal.starts_at == original.expires_at
    assert renewal.expires_at == original.expires_at + timedelta(days=365)
    (grant,) = renewal.grants.all()
    assert grant.effective_at == original.expires_at
    assert grant.expires_at == renewal.expires_at


def test_an_early_renewal_does_not_double_the_limit_now():
    account = personal_account()
    pack = _storage_pack(subscription=True, term_days=30)
    original = _buy(account, pack).purchase

    renew_purchase(purchase=original, user=owner_of(account), idempotency_key="r1")

    single = FREE_STORAGE + 50 * GB
    assert _limit(account, "storage") == single
    last_moment = original.expires_at - timedelta(seconds=1)
    assert _limit(account, "storage", at=last_moment) == single
    assert _limit(account, "storage", at=original.expires_at) == single
    next_term = original.expires_at + timedelta(days=29)
    assert _limit(account, "storage", at=next_term) == single
    assert _limit(account, "storage", at=original.expires_at + timedelta(days=30)) == (
        FREE_STORAGE
    )


def test_renewing_after_expiry_starts_now():
    account = personal_account()
    pack = _storage_pack(subscription=True, term_days=30)
    lapsed = _lapsed_purchase(account, pack)
    assert _limit(account, "storage") == FREE_STORAGE
    before = timezone.now()

    renewal = renew_purchase(
        purchase=lapsed, user=owner_of(account), idempotency_key="late"
    ).purchase

    assert before <= renewal.starts_at <= timezone.now()
    assert renewal.expires_at == renewal.starts_at + timedelta(days=30)
    assert _limit(account, "storage") == FREE_STORAGE + 50 * GB


def test_a_renewal_is_charged_as_a_renewal():
    account = company_account()
    pack = Pack.objects.get(code="slots-5-sub")
    original = _buy(account, pack).purchase

    result = renew_purchase(
        purchase=original, user=owner_of(account), idempotency_key="renew"
    )

    assert result.charge.kind == ChargeRecord.Kind.RENEWAL
    assert result.charge.amount_cents == pack.price_cents
    assert result.charge.status == ChargeRecord.Status.PAID
    assert account.charges.count() == 2


@pytest.mark.time_machine(datetime(2026, 6, 10, 12, tzinfo=UTC))
def test_a_term_cannot_be_renewed_before_its_renewal_window_opens():
    account = personal_account()
    pack = _storage_pack(subscription=True, term_days=365)
    original = _buy(account, pack).purchase

    with pytest.raises(NotRenewable) as excinfo:
        renew_purchase(purchase=original, user=owner_of(account), idempotency_key="r")

    opens = original.expires_at - timedelta(days=30)
    assert f"Renewal opens on {opens.day} {opens:%b %Y}" in excinfo.value.message
    assert account.purchases.count() == 1
    assert account.charges.count() == 1


@pytest.mark.time_machine(datetime(2026, 6, 10, 12, tzinfo=UTC))
@pytest.mark.parametrize(
    ("ended_days_ago", "renewable"), [(-30, True), (29, True), (31, False)]
)
def test_the_renewal_window_runs_from_30_days_before_the_end_to_30_after(
    ended_days_ago, renewable
):
    account = personal_account()
    pack = _storage_pack(subscription=True, term_days=365)
    original = _buy(account, pack).purchase
    # Bought so long ago that its term ended ``ended_days_ago`` days (and an
    # hour) ago; a negative number of days: it ends that many days from now.
    left = original.expires_at - timezone.now()
    shift_term(original, by=left + timedelta(days=ended_days_ago, hours=1))

    def renew():
        return renew_purchase(
            purchase=original, user=owner_of(account), idempotency_key="r"
        )

    if renewable:
        assert renew().purchase.kind == Purchase.Kind.RENEWAL
    else:
        with pytest.raises(NotRenewable, match="buy the pack again"):
            renew()


def test_a_one_time_pack_cannot_be_renewed():
    account = personal_account()
    original = _buy(account, _storage_pack()).purchase

    with pytest.raises(NotRenewable) as excinfo:
        renew_purchase(purchase=original, user=owner_of(account), idempotency_key="r")

    assert excinfo.value.code == "not_renewable"
    assert account.purchases.count() == 1
    assert account.charges.count() == 1


def test_the_same_purchase_cannot_be_renewed_twice():
    account = personal_account()
    original = ending_soon(_buy(account, _storage_pack(subscription=True)).purchase)
    renew_purchase(purchase=original, user=owner_of(account), idempotency_key="r1")

    with pytest.raises(NotRenewable):
        renew_purchase(purchase=original, user=owner_of(account), idempotency_key="r2")

    assert account.purchases.count() == 2
    assert account.charges.count() == 2


def test_resubmitting_a_renewal_returns_the_first_one():
    account = personal_account()
    original = ending_soon(_buy(account, _storage_pack(subscription=True)).purchase)
    first = renew_purchase(
        purchase=original, user=owner_of(account), idempotency_key="r1"
    )

    again = renew_purchase(
        purchase=original, user=owner_of(account), idempotency_key="r1"
    )

    assert (again.purchase, again.created) == (first.purchase, False)
    assert account.charges.count() == 2


def test_the_renewal_itself_can_be_renewed():
    account = personal_account()
    pack = _storage_pack(subscription=True, term_days=30)
    original = _buy(account, pack).purchase
    renewal = renew_purchase(
        purchase=original, user=owner_of(account), idempotency_key="r1"
    ).purchase
    # Later, when the renewed term is the one ending soon:
    shift_term(original, by=timedelta(days=45))
    renewal = shift_term(renewal, by=timedelta(days=45))

    third = renew_purchase(
        purchase=renewal, user=owner_of(account), idempotency_key="r2"
    ).purchase

    assert third.starts_at == renewal.expires_at


def test_a_declined_renewal_can_be_retried_with_a_new_token(settings):
    account = personal_account()
    original = ending_soon(_buy(account, _storage_pack(subscription=True)).purchase)
    settings.BILLING_SANDBOX_DECLINE = True
    declined = renew_purchase(
        purchase=original, user=owner_of(account), idempotency_key="r1"
    )
    settings.BILLING_SANDBOX_DECLINE = False

    retried = renew_purchase(
        purchase=original, user=owner_of(account), idempotency_key="r2"
    )

    assert declined.charge.status == ChargeRecord.Status.FAILED
    assert not declined.purchase.grants.exists()
    assert retried.approved is True
    assert retried.purchase.starts_at == original.expires_at


def test_a_refunded_purchase_cannot_be_renewed():
    account = personal_account()
    bought = _buy(account, _storage_pack(subscription=True))
    refund_charge(charge=bought.charge, staff_user=_staff())

    with pytest.raises(NotRenewable):
        renew_purchase(
            purchase=bought.purchase, user=owner_of(account), idempotency_key="r"
        )


def test_a_company_member_cannot_renew():
    account = company_account()
    original = _buy(account, _storage_pack(subscription=True)).purchase
    member = MembershipFactory(company=account.company).user

    with pytest.raises(PermissionDenied):
        renew_purchase(purchase=original, user=member, idempotency_key="r")

    assert account.purchases.count() == 1


def test_a_pack_taken_off_sale_cannot_be_renewed():
    account = personal_account()
    pack = _storage_pack(subscription=True)
    original = _buy(account, pack).purchase
    Pack.objects.filter(pk=pack.pk).update(is_active=False)

    with pytest.raises(NotRenewable):
        renew_purchase(purchase=original, user=owner_of(account), idempotency_key="r")


# Refunds ----------------------------------------------------------------


def test_refunding_a_paid_charge_adds_a_negative_row_pointing_at_it():
    account = personal_account()
    bought = _buy(account, _storage_pack(price_cents=2000))

    refund = refund_charge(
        charge=bought.charge, staff_user=_staff(), reason="Customer request"
    )

    assert refund.kind == ChargeRecord.Kind.REFUND
    assert refund.amount_cents == -2000
    assert refund.refund_of == bought.charge
    assert refund.status == ChargeRecord.Status.PAID
    assert refund.account == account
    assert refund.customer_reason == "Customer request"
    original = ChargeRecord.objects.get(pk=bought.charge.pk)
    assert original.amount_cents == 2000
    assert original.status == ChargeRecord.Status.PAID
    assert account.charges.count() == 2


def test_refunding_a_pack_ends_its_grants_and_the_limit_drops_back():
    account = personal_account()
    bought = _buy(account, _storage_pack())

    refund_charge(charge=bought.charge, staff_user=_staff())

    assert _limit(account, "storage") == FREE_STORAGE
    grant = bought.purchase.grants.get()
    assert grant.revoked_at is not None
    bought.purchase.refresh_from_db()
    assert bought.purchase.status == Purchase.Status.REFUNDED


def test_refunding_a_renewal_keeps_the_original_term():
    account = personal_account()
    original = ending_soon(_buy(account, _storage_pack(subscription=True)).purchase)
    renewal = renew_purchase(
        purchase=original, user=owner_of(account), idempotency_key="r1"
    )

    refund_charge(charge=renewal.charge, staff_user=_staff())

    assert _limit(account, "storage") == FREE_STORAGE + 50 * GB
    assert _limit(account, "storage", at=original.expires_at) == FREE_STORAGE


def test_refunding_twice_is_refused():
    account = personal_account()
    bought = _buy(account, _storage_pack())
    refund_charge(charge=bought.charge, staff_user=_staff())

    with pytest.raises(AlreadyRefunded) as excinfo:
        refund_charge(charge=bought.charge, staff_user=_staff())

    assert excinfo.value.code == "already_refunded"
    assert account.charges.filter(kind=ChargeRecord.Kind.REFUND).count() == 1


def test_a_refund_cannot_itself_be_refunded():
    account = personal_account()
    bought = _buy(account, _storage_pack())
    refund = refund_charge(charge=bought.charge, staff_user=_staff())

    with pytest.raises(InvalidRequest):
        refund_charge(charge=refund, staff_user=_staff())

    assert account.charges.count() == 2


def test_refunding_a_pending_charge_voids_it():
    account = personal_account()
    charge = ChargeFactory(account=account, amount_cents=700)
    assert outstanding_balance_cents(account=account) == 700

    result = refund_charge(charge=charge, staff_user=_staff())

    charge.refresh_from_db()
    assert charge.status == ChargeRecord.Status.VOID
    assert charge.amount_cents == 700
    assert result.status == ChargeRecord.Status.VOID
    assert not account.charges.filter(kind=ChargeRecord.Kind.REFUND).exists()
    assert outstanding_balance_cents(account=account) == 0


def test_a_voided_charge_cannot_be_refunded_again():
    account = personal_account()
    charge = ChargeFactory(account=account)
    refund_charge(charge=charge, staff_user=_staff())

    with pytest.raises(AlreadyRefunded):
        refund_charge(charge=charge, staff_user=_staff())


def test_a_failed_charge_has_nothing_to_refund(settings):
    settings.BILLING_SANDBOX_DECLINE = True
    account = personal_account()
    failed = _buy(account, _storage_pack()).charge

    with pytest.raises(InvalidRequest):
        refund_charge(charge=failed, staff_user=_staff())

    assert account.charges.count() == 1


# The ledger -------------------------------------------------------------


def test_a_charge_amount_cannot_be_edited_nor_a_charge_deleted():
    charge = ChargeFactory(amount_cents=500)

    with pytest.raises(DatabaseError), transaction.atomic():
        ChargeRecord.objects.filter(pk=charge.pk).update(amount_cents=1)

    charge.refresh_from_db()
    assert charge.amount_cents == 500
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), transaction.atomic():
            ChargeRecord.objects.filter(pk=charge.pk).delete()
        assert ChargeRecord.objects.filter(pk=charge.pk).exists()


@pytest.mark.parametrize(
    "field, value",
    [("kind", ChargeRecord.Kind.THEME), ("currency", "EUR")],
)
def test_a_charge_cannot_be_moved_to_another_kind_or_currency(field, value):
    charge = ChargeFactory()

    with pytest.raises(DatabaseError), transaction.atomic():
        ChargeRecord.objects.filter(pk=charge.pk).update(**{field: value})

    charge.refresh_from_db()
    assert (charge.kind, charge.currency) == (ChargeRecord.Kind.ADJUSTMENT, "USD")


def test_a_charge_cannot_be_moved_to_another_account():
    charge = ChargeFactory()
    other = personal_account()

    with pytest.raises(DatabaseError), transaction.atomic():
        ChargeRecord.objects.filter(pk=charge.pk).update(account=other)

    assert ChargeRecord.objects.get(pk=charge.pk).account_id == charge.account_id


def test_a_charge_status_can_still_move_forward():
    charge = ChargeFactory()

    ChargeRecord.objects.filter(pk=charge.pk).update(
        status=ChargeRecord.Status.PAID, paid_at=timezone.now()
    )

    charge.refresh_from_db()
    assert charge.status == ChargeRecord.Status.PAID


# Staff adjustments and revocations --------------------------------------


def test_a_staff_adjustment_raises_the_limit_with_its_reason_on_record():
    account = personal_account()
    staff = _staff()

    grant = create_adjustment_grant(
        account=account,
        meter=meter("storage"),
        amount=5 * GB,
        reason="Goodwill after outage",
        staff_user=staff,
    )

    assert _limit(account, "storage") == FREE_STORAGE + 5 * GB
    assert grant.source == Grant.Source.ADJUSTMENT
    assert grant.reason == "Goodwill after outage"
    assert grant.created_by == staff
    assert grant.purchase is None


@pytest.mark.parametrize("amount", [0, -1])
def test_a_staff_adjustment_needs_a_positive_amount(amount):
    account = personal_account()

    with pytest.raises(InvalidRequest):
        create_adjustment_grant(
            account=account,
            meter=meter("storage"),
            amount=amount,
            reason="Goodwill",
            staff_user=_staff(),
        )

    assert not account.grants.exists()
    assert _limit(account, "storage") == FREE_STORAGE


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_staff_adjustment_needs_a_reason(reason):
    account = personal_account()

    with pytest.raises(InvalidRequest):
        create_adjustment_grant(
            account=account,
            meter=meter("storage"),
            amount=GB,
            reason=reason,
            staff_user=_staff(),
        )

    assert not account.grants.exists()


def test_a_staff_adjustment_cannot_expire_in_the_past():
    account = personal_account()

    with pytest.raises(InvalidRequest):
        create_adjustment_grant(
            account=account,
            meter=meter("storage"),
            amount=GB,
            reason="Goodwill",
            staff_user=_staff(),
            expires_at=timezone.now() - timedelta(minutes=1),
        )

    assert not account.grants.exists()


def test_a_staff_adjustment_with_an_expiry_stops_counting_then():
    account = personal_account()
    expires_at = timezone.now() + timedelta(days=3)

    create_adjustment_grant(
        account=account,
        meter=meter("storage"),
        amount=GB,
        reason="Trial",
        staff_user=_staff(),
        expires_at=expires_at,
    )

    assert _limit(account, "storage") == FREE_STORAGE + GB
    assert _limit(account, "storage", at=expires_at) == FREE_STORAGE


def test_revoking_a_grant_drops_the_limit_back():
    account = personal_account()
    grant = create_adjustment_grant(
        account=account,
        meter=meter("storage"),
        amount=GB,
        reason="Goodwill",
        staff_user=_staff(),
    )

    assert (
        revoke_grant(grant=grant, staff_user=None, reason="Granted by mistake") is True
    )

    assert _limit(account, "storage") == FREE_STORAGE
    grant.refresh_from_db()
    assert grant.revoked_at is not None
    assert grant.reason == "Granted by mistake"


def test_only_staff_can_refund_a_charge():
    account = personal_account()
    bought = purchase_pack(
        account=account,
        pack=Pack.objects.get(code="storage-50gb-once"),
        user=account.user,
        idempotency_key="self-refund",
    )

    with pytest.raises(PermissionDenied):
        refund_charge(charge=bought.charge, staff_user=account.user)

    assert not ChargeRecord.objects.filter(kind=ChargeRecord.Kind.REFUND).exists()
    assert _limit(account, "storage") == FREE_STORAGE + 50 * GB


def test_only_staff_can_add_an_adjustment_grant():
    account = personal_account()

    with pytest.raises(PermissionDenied):
        create_adjustment_grant(
            account=account,
            meter=meter("storage"),
            amount=GB,
            reason="me",
            staff_user=account.user,
        )

    assert _limit(account, "storage") == FREE_STORAGE


def test_a_renewal_needs_its_idempotency_token():
    account = personal_account()
    bought = purchase_pack(
        account=account,
        pack=Pack.objects.get(code="storage-50gb-sub"),
        user=account.user,
        idempotency_key="sub-1",
    )

    with pytest.raises(InvalidRequest):
        renew_purchase(purchase=bought.purchase, user=account.user, idempotency_key="")

    assert Purchase.objects.filter(account=account).count() == 1


def test_theme_charges_are_refunded_only_through_their_sale():
    account = personal_account()
    charge = ChargeFactory(
        account=account, kind=ChargeRecord.Kind.THEME, status="paid", amount_cents=900
    )
    with pytest.raises(InvalidRequest, match="store's Sales page"):
        refund_charge(
            charge=charge, staff_user=StaffUserFactory(perms=["billing.refund_charge"])
        )
    assert not charge.refunds.exists()
