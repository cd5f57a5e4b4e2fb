"""The reads behind the account pages (``billing.selectors.pages``): the
decisions they make so that views and templates make none."""

from datetime import UTC, datetime, timedelta

import pytest

from billing.models import Pack
from billing.selectors import account_quotas, get_purchase_for_account
from billing.selectors.pages import (
    Balance,
    ConsentOutcome,
    NextStep,
    balance_overview,
    charge_overview,
    consent_outcome,
    job_slot_status,
    overage_overview,
    purchase_receipt,
    quota_next_steps,
    renewal_overview,
)
from billing.services.consents import revoke_overage_consent
from billing.services.packs import purchase_pack, renew_purchase
from billing.services.periods import close_billing_period
from billing.units import GB, period_of
from tests.factories.billing import (
    ChargeRecordFactory,
    JobSlotFactory,
    OverageConsentFactory,
    company_account,
    ending_soon,
    meter,
    owner_of,
    personal_account,
    record_usage,
)

AT = datetime(2026, 4, 16, 12, tzinfo=UTC)
pytestmark = [pytest.mark.django_db, pytest.mark.time_machine(AT, tick=False)]


def _steps(account, code):
    status = next(
        s for s in account_quotas(account=account, at=AT) if s.meter.code == code
    )
    return quota_next_steps(status=status, account=account)


def test_a_meter_within_its_limit_offers_no_next_step():
    account = personal_account()
    assert _steps(account, "bandwidth") == ()


def test_a_warning_offers_a_pack_but_not_yet_overage():
    account = personal_account()
    record_usage(account, "storage", 17 * GB // 10)  # 85% of 2 GB
    assert _steps(account, "storage") == (NextStep.BUY_PACK,)


def test_an_exceeded_priced_meter_offers_a_pack_then_overage():
    account = personal_account()
    record_usage(account, "bandwidth", 6 * GB)
    assert _steps(account, "bandwidth") == (
        NextStep.BUY_PACK,
        NextStep.CONFIRM_OVERAGE,
    )
    OverageConsentFactory(account=account, meter=meter("bandwidth"))
    assert _steps(account, "bandwidth") == (
        NextStep.BUY_PACK,
        NextStep.REVIEW_OVERAGE,
    )


def test_an_exceeded_hard_limit_offers_only_a_pack():
    transcoding = meter("transcoding")
    transcoding.overage_price_cents = None
    transcoding.save(update_fields=["overage_price_cents"])
    account = personal_account()
    record_usage(account, "transcoding", 2 * 60 * 60)
    assert _steps(account, "transcoding") == (NextStep.BUY_PACK,)


def test_full_job_slots_are_bought_on_their_own_page():
    account = company_account()
    JobSlotFactory.create_batch(2, account=account)
    assert _steps(account, "job_slots") == (NextStep.BUY_JOB_SLOTS,)


def test_job_slots_are_full_once_every_slot_is_held():
    account = company_account()  # the free plan: 2 slots
    JobSlotFactory(account=account)
    assert not job_slot_status(account=account).full
    JobSlotFactory(account=account)
    status = job_slot_status(account=account)
    assert status.full and (status.slots.used, status.slots.limit) == (2, 2)


def test_a_staff_block_offers_nothing_to_do():
    account = personal_account()
    record_usage(account, "bandwidth", 6 * GB)
    account.hard_blocked = True
    account.save(update_fields=["hard_blocked"])
    assert _steps(account, "bandwidth") == ()


def test_a_balance_is_due_only_when_pending_charges_add_up_above_zero():
    account = personal_account()
    assert balance_overview(account=account) == Balance(cents=0, due=False)
    ChargeRecordFactory(account=account, amount_cents=500)
    ChargeRecordFactory(account=account, amount_cents=700, paid=True)
    assert balance_overview(account=account) == Balance(cents=500, due=True)


def _bandwidth(overview):
    return next(m for m in overview.meters if m.status.meter.code == "bandwidth")


def test_the_overage_overview_lists_priced_meters_only():
    overview = overage_overview(account=company_account(), at=AT)
    codes = [m.status.meter.code for m in overview.meters]
    assert "job_slots" not in codes and "bandwidth" in codes
    assert overview.min_projection_days == 3


def test_overage_used_without_consent_is_never_billed():
    account = personal_account()
    record_usage(account, "bandwidth", 6 * GB)
    bandwidth = _bandwidth(overage_overview(account=account, at=AT))
    assert not bandwidth.consented and bandwidth.unconsented
    assert not bandwidth.billed_after_revocation and bandwidth.cap_cents is None
    assert bandwidth.figures.billable_cents == 0


def test_a_consent_revoked_this_period_still_bills_what_was_used_under_it():
    account = personal_account()
    OverageConsentFactory(
        account=account, meter=meter("bandwidth"), given_at=AT - timedelta(days=2)
    )
    record_usage(account, "bandwidth", 6 * GB, at=AT - timedelta(days=1))
    revoke_overage_consent(
        account=account,
        meter=meter("bandwidth"),
        actor=owner_of(account),
        at=AT - timedelta(hours=1),
    )
    bandwidth = _bandwidth(overage_overview(account=account, at=AT))
    assert not bandwidth.consented
    assert bandwidth.billed_after_revocation
    assert bandwidth.figures.billable_cents == 9  # 1 GB at $0.09


def test_overage_beyond_the_cap_is_flagged_and_reaches_the_cap():
    account = personal_account()
    OverageConsentFactory(
        account=account,
        meter=meter("bandwidth"),
        cap_cents=50,
        given_at=AT - timedelta(days=1),
    )
    record_usage(account, "bandwidth", 15 * GB)  # 10 GB past: $0.90
    bandwidth = _bandwidth(overage_overview(account=account, at=AT))
    assert bandwidth.consented and bandwidth.over_cap and bandwidth.cap_cents == 50
    outcome = consent_outcome(account=account, meter=meter("bandwidth"), at=AT)
    assert outcome == ConsentOutcome(
        billable_cents=50, bills_already=True, consented_cents=90, cap_reached=True
    )


def _bought(account, code="storage-50gb-sub"):
    result = purchase_pack(
        account=account,
        pack=Pack.objects.get(code=code),
        actor=owner_of(account),
        idempotency_key=f"buy-{code}",
    )
    return get_purchase_for_account(account=account, purchase_id=result.purchase.pk)


def test_a_receipt_lists_charges_grants_and_the_limits_now():
    account = personal_account()
    purchase = _bought(account)
    receipt = purchase_receipt(purchase=purchase, at=AT)
    assert [c.purchase_id for c in receipt.charges] == [purchase.pk]
    assert [g.meter.code for g in receipt.grants] == ["storage"]
    storage = next(s for s in receipt.statuses if s.meter.code == "storage")
    assert storage.limit == 52 * GB
    assert not receipt.scheduled


def test_a_renewal_bought_before_the_end_is_scheduled_with_no_gap():
    account = personal_account()
    purchase = ending_soon(_bought(account), days_left=10)
    renewal = renewal_overview(purchase=purchase, at=AT)
    assert renewal.no_gap and renewal.preview.refusal is None
    assert [a.meter.code for a in renewal.allowances] == ["storage"]
    result = renew_purchase(
        purchase=purchase, actor=owner_of(account), idempotency_key="renew"
    )
    renewed = get_purchase_for_account(account=account, purchase_id=result.purchase.pk)
    assert purchase_receipt(purchase=renewed, at=AT).scheduled


def test_a_charge_held_by_the_cap_says_so():
    account = personal_account()
    period = period_of(AT - timedelta(days=40))
    OverageConsentFactory(
        account=account, meter=meter("bandwidth"), period=period, cap_cents=50
    )
    record_usage(
        account, "bandwidth", 15 * GB, at=period.starts_at + timedelta(days=11)
    )
    close_billing_period(period=period, at=period.ends_at)
    charge = account.charges.get(kind="overage")
    overview = charge_overview(charge=charge)
    assert overview.document.overage is not None
    assert overview.capped and charge.amount_cents == 50
