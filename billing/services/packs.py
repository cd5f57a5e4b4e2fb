"""Buy, renew and refund packs; staff grant adjustments.

A purchase is one transaction: the purchase, its charge (paid through the
gateway) and one grant per meter the pack covers. A declined payment keeps
the purchase and a failed charge as a record, and creates no grant. The form's
idempotency token is the purchase's unique key: under the account lock a
repeat finds the first purchase and returns it.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import User

from ..documents import ChargeQuote, pack_line, quote_charge
from ..errors import (
    AlreadyRefunded,
    IdempotencyConflict,
    InvalidRequest,
    NotRenewable,
    PermissionDenied,
)
from ..models import (
    Account,
    AuditEntry,
    ChargeRecord,
    EventType,
    Grant,
    Meter,
    Pack,
    Purchase,
)
from ..permissions import ADJUST_GRANT, REFUND_CHARGE, check_staff_power
from ..selectors import (
    can_manage_account,
    pack_applies,
    renewal_refusal,
    renewal_start,
)
from ..units import billed_days, format_cents, period_of
from .alerts import request_quota_evaluation
from .audit import record_audit
from .counters import refold_counters_from
from .documents import issue_credit_note, issue_invoice
from .job_slots import DEFAULT_SUSPENSION_CAUSE, reconcile_job_slots
from .locks import lock_account
from .payments import charge_and_pay, get_gateway, require_price_shown
from .webhook_events import purchase_event, record_events, refund_event


@dataclass(frozen=True, slots=True)
class PurchaseResult:
    purchase: Purchase
    charge: ChargeRecord
    created: bool  # False when the idempotency token was seen before

    @property
    def approved(self) -> bool:
        return self.purchase.status != Purchase.Status.FAILED


def _charge_kind(pack: Pack, *, renewal: bool) -> str:
    if renewal:
        return ChargeRecord.Kind.RENEWAL
    if pack.category == Pack.Category.SLOTS:
        return ChargeRecord.Kind.SLOT_PACK
    return ChargeRecord.Kind.CAPACITY_PACK


def _replay(
    account: Account,
    idempotency_key: str,
    *,
    pack_id: int,
    renewal_of_id: int | None = None,
) -> PurchaseResult | None:
    """The first result for this token, if it was used for the same request.

    A purchase token names one pack bought outright; a renewal token one
    purchase renewed. The same token for anything else is a conflict, so a
    stale or tampered form never returns (or charges for) another purchase.
    """
    existing = Purchase.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    if existing.account_id != account.pk:
        raise InvalidRequest("This purchase token belongs to another account.")
    if (existing.pack_id, existing.renewal_of_id) != (pack_id, renewal_of_id):
        raise IdempotencyConflict(
            "This confirmation form was already used for another purchase, so"
            " nothing was charged. Please check the details and confirm again."
        )
    charge = (
        existing.charges.exclude(kind=ChargeRecord.Kind.REFUND).order_by("pk").first()
    )
    return PurchaseResult(purchase=existing, charge=charge, created=False)


def _buy(
    *,
    account: Account,
    pack: Pack,
    user: object,
    idempotency_key: str,
    quote: ChargeQuote,
    starts_at: datetime,
    now: datetime,
    renewal_of: Purchase | None = None,
) -> PurchaseResult:
    """Create purchase + charge, collect payment, and on approval the grants."""
    purchase = Purchase.objects.create(
        account=account,
        pack=pack,
        kind=Purchase.Kind.RENEWAL if renewal_of else Purchase.Kind.PURCHASE,
        status=Purchase.Status.COMPLETED,
        idempotency_key=idempotency_key,
        price_cents=pack.price_cents,
        starts_at=starts_at,
        expires_at=pack.expiry_from(starts_at),
        renewal_of=renewal_of,
        bought_by=user if getattr(user, "pk", None) else None,
        created_at=now,
    )
    charge = charge_and_pay(
        account=account,
        kind=_charge_kind(pack, renewal=renewal_of is not None),
        quote=quote,
        idempotency_key=f"purchase:{idempotency_key}",
        description=quote.lines[0].line.description,
        user=purchase.bought_by,
        now=now,
        purchase=purchase,
    )
    if charge.status == ChargeRecord.Status.FAILED:
        purchase.status = Purchase.Status.FAILED
        purchase.save(update_fields=["status"])
        return PurchaseResult(purchase=purchase, charge=charge, created=True)

    lines = list(pack.allowances.select_related("meter"))
    Grant.objects.bulk_create(
        [
            Grant(
                account=account,
                meter=line.meter,
                amount=line.amount,
                effective_at=purchase.starts_at,
                expires_at=purchase.expires_at,
                purchase=purchase,
                created_by=purchase.bought_by,
                created_at=now,
            )
            for line in lines
        ]
    )
    _apply_new_capacity(account=account, meters=[line.meter for line in lines], at=now)
    first_day, last_day = billed_days(purchase.starts_at, purchase.expires_at)
    issue_invoice(
        charge=charge,
        quote=quote,
        period_start=first_day,
        period_end=last_day,
        at=now,
    )
    record_events(
        specs=[
            purchase_event(
                type=EventType.PURCHASE_COMPLETED,
                purchase=purchase,
                at=now,
                dedupe_key=f"purchase.completed:{purchase.pk}",
            )
        ]
    )
    return PurchaseResult(purchase=purchase, charge=charge, created=True)


def _apply_new_capacity(
    *,
    account: Account,
    meters: list[Meter],
    at: datetime,
    cause: str = DEFAULT_SUSPENSION_CAUSE,
) -> None:
    """Let changed capacity reach the caches: a top-up starting now covers
    this period's excess so far, one ending now stops burning (usage already
    recorded past this instant changes side); slots follow the new limit
    (``cause`` says what lowered it, for the slots it suspends). States,
    alerts and quota events follow after commit."""
    request_quota_evaluation(account_ids=[account.pk], at=at)
    for meter in meters:
        if meter.kind == Meter.Kind.COUNTER:
            refold_counters_from(
                account=account, meter=meter, period=period_of(at), now=at
            )
        elif meter.kind == Meter.Kind.ALLOCATION:
            reconcile_job_slots(account=account, at=at, cause=cause)


def _check_can_manage(user: object, account: Account) -> None:
    if not can_manage_account(user=user, account=account):
        raise PermissionDenied(
            "Only the account's owners and admins can buy, renew or consent."
        )


def _check_pack_applies(pack: Pack, account: Account) -> None:
    if not pack_applies(pack=pack, account=account):
        raise InvalidRequest(f"{pack.name} is for company accounts only.")


def purchase_pack(
    *,
    account: Account,
    pack: Pack,
    user: object,
    idempotency_key: str,
    shown_price_cents: int | None = None,
) -> PurchaseResult:
    """Buy a pack once per idempotency token, whatever the number of submits.

    The token replays its first result for the same pack; for another pack
    it is refused (``idempotency_conflict``) and nothing is charged. With
    ``shown_price_cents`` a price changed since the page was shown charges
    nothing (``require_price_shown``).
    """
    _check_can_manage(user, account)
    if not idempotency_key:
        raise InvalidRequest("A purchase needs its form's idempotency token.")
    with transaction.atomic():
        account = lock_account(account)
        replay = _replay(account, idempotency_key, pack_id=pack.pk)
        if replay:
            return replay
        pack = Pack.objects.get(pk=pack.pk)  # the price as it is now
        if not pack.is_active:
            raise InvalidRequest(f"{pack.name} is not on sale.")
        _check_pack_applies(pack, account)
        now = timezone.now()
        quote = quote_charge(
            account=account, lines=[pack_line(pack=pack, renewal=False)], at=now
        )
        require_price_shown(
            shown_cents=shown_price_cents, price_cents=quote.gross_cents, what=pack.name
        )
        return _buy(
            account=account,
            pack=pack,
            user=user,
            idempotency_key=idempotency_key,
            quote=quote,
            starts_at=now,
            now=now,
        )


def renew_purchase(
    *,
    purchase: Purchase,
    user: object,
    idempotency_key: str,
    shown_price_cents: int | None = None,
) -> PurchaseResult:
    """Explicitly renew a subscription pack (nothing renews by itself).

    The token replays its first renewal of this purchase; sent to renew
    another purchase it is refused (``idempotency_conflict``). With
    ``shown_price_cents`` a price changed since the page was shown charges
    nothing.
    """
    account = purchase.account
    _check_can_manage(user, account)
    if not idempotency_key:
        raise InvalidRequest("A renewal needs its form's idempotency token.")
    with transaction.atomic():
        account = lock_account(account)
        replay = _replay(
            account,
            idempotency_key,
            pack_id=purchase.pack_id,
            renewal_of_id=purchase.pk,
        )
        if replay:
            return replay
        purchase = Purchase.objects.select_related("pack").get(pk=purchase.pk)
        pack = purchase.pack
        now = timezone.now()
        refusal = renewal_refusal(purchase=purchase, at=now)
        if refusal:
            raise NotRenewable(refusal)
        _check_pack_applies(pack, account)
        quote = quote_charge(
            account=account, lines=[pack_line(pack=pack, renewal=True)], at=now
        )
        require_price_shown(
            shown_cents=shown_price_cents, price_cents=quote.gross_cents, what=pack.name
        )
        return _buy(
            account=account,
            pack=pack,
            user=user,
            idempotency_key=idempotency_key,
            quote=quote,
            starts_at=renewal_start(purchase=purchase, at=now),
            now=now,
            renewal_of=purchase,
        )


SALE_KINDS = (ChargeRecord.Kind.THEME, ChargeRecord.Kind.BUNDLE)


def refund_charge(
    *,
    charge: ChargeRecord,
    staff_user: User | None,
    amount_cents: int | None = None,
    customer_reason: str = "",
    staff_note: str = "",
    reason: str = "",
    for_sale: bool = False,
) -> ChargeRecord:
    """Refund a charge: a negative row pointing at it, and its purchase's grants end.

    ``amount_cents`` (1 to the amount charged) defaults to the full price;
    either way the grants end now. A pending charge is voided whole instead
    (nothing was collected). ``customer_reason`` (``reason`` is its older
    name) is shown to the customer, ``staff_note`` only in admin. The
    original row keeps its amount: the ledger is append-only. Theme and
    bundle charges are refunded only through their sale (``for_sale``), which
    also ends the licences and reverses the creator's earnings, and records
    the refund on the sale. Needs ``billing.refund_charge``; the actor has
    no default: the system passes None explicitly.
    """
    check_staff_power(actor=staff_user, permission=REFUND_CHARGE, allow_system=True)
    if amount_cents is not None and (
        isinstance(amount_cents, bool) or not isinstance(amount_cents, int)
    ):
        raise InvalidRequest("A refund amount is a whole number of cents.")
    texts = _RefundTexts(
        customer_reason=(customer_reason or reason).strip()[:255],
        staff_note=staff_note.strip(),
    )
    with transaction.atomic():
        account = lock_account(charge.account)
        charge = ChargeRecord.objects.select_related("purchase").get(pk=charge.pk)
        amount_cents = _refund_amount(charge, amount_cents, for_sale=for_sale)
        now = timezone.now()
        before = {"status": charge.status, "amount_cents": charge.amount_cents}
        if charge.status == ChargeRecord.Status.PENDING:
            result_row = _void(charge, texts=texts)
            credit_reason = texts.customer_reason or "Charge cancelled before payment"
        else:
            result_row = _pay_back(
                charge, amount_cents, texts=texts, staff_user=staff_user, at=now
            )
            credit_reason = texts.customer_reason or _refund_label(charge, amount_cents)
        revoked = _end_purchase_grants(account=account, charge=charge, at=now)
        if not for_sale:  # refund_sale records the sale's refund as a whole
            record_audit(
                action=AuditEntry.Action.REFUND,
                actor=staff_user,
                target=charge,
                at=now,
                account=account,
                before=before,
                after={
                    "status": charge.status,
                    "refunded_cents": 0 if result_row is charge else amount_cents,
                    "refund_id": result_row.pk,
                    "grants_revoked": [g.pk for g in revoked],
                    "staff_note": texts.staff_note,
                },
                reason=texts.customer_reason,
            )
        # Numbered last, so the credit notes' sequence is held only briefly.
        issue_credit_note(
            charge=result_row,
            credited=charge,
            gross_cents=amount_cents,
            reason=credit_reason,
            at=now,
        )
        record_events(
            specs=[
                refund_event(
                    original=charge,
                    refund=None if result_row is charge else result_row,
                    amount_cents=amount_cents,
                    reason=credit_reason,
                    at=now,
                )
            ]
        )
    return result_row


@dataclass(frozen=True, slots=True)
class _RefundTexts:
    customer_reason: str  # shown to the customer
    staff_note: str  # admin only


def _refund_amount(
    charge: ChargeRecord, amount_cents: int | None, *, for_sale: bool
) -> int:
    """The amount to refund (the full charge by default), or why not."""
    if charge.kind == ChargeRecord.Kind.REFUND:
        raise InvalidRequest("A refund cannot be refunded.")
    if charge.kind in SALE_KINDS and not for_sale:
        raise InvalidRequest(
            "Refund theme and bundle purchases from the store's Sales page, so "
            "the licence and the creator's earnings are reversed too."
        )
    if charge.refunds.exists() or charge.status == ChargeRecord.Status.VOID:
        raise AlreadyRefunded("This charge was already refunded or voided.")
    if charge.status == ChargeRecord.Status.FAILED:
        raise InvalidRequest(
            "A failed charge collected nothing; there is nothing to refund."
        )
    full, currency = charge.amount_cents, charge.currency
    if amount_cents is None:
        return full
    if not 1 <= amount_cents <= full:
        raise InvalidRequest(
            f"A refund of this charge is between {format_cents(1, currency)}"
            f" and {format_cents(full, currency)} (the amount charged),"
            f" not {format_cents(amount_cents, currency)}."
        )
    if charge.status == ChargeRecord.Status.PENDING and amount_cents != full:
        raise InvalidRequest(
            "Nothing was collected on a pending charge: it is voided"
            " whole, not refunded in part."
        )
    return amount_cents


def _refund_label(charge: ChargeRecord, amount_cents: int) -> str:
    return "Partial refund" if amount_cents < charge.amount_cents else "Refund"


def _void(charge: ChargeRecord, *, texts: _RefundTexts) -> ChargeRecord:
    """Cancel a pending charge: nothing was collected, nothing goes back."""
    # Like a decline's failure_reason, the texts arrive with the status
    # change; the amount and references stay frozen.
    ChargeRecord.objects.filter(
        pk=charge.pk, status=ChargeRecord.Status.PENDING
    ).update(
        status=ChargeRecord.Status.VOID,
        customer_reason=texts.customer_reason,
        staff_note=texts.staff_note,
    )
    charge.status = ChargeRecord.Status.VOID
    charge.customer_reason, charge.staff_note = texts.customer_reason, texts.staff_note
    return charge


def _pay_back(
    charge: ChargeRecord,
    amount_cents: int,
    *,
    texts: _RefundTexts,
    staff_user: User | None,
    at: datetime,
) -> ChargeRecord:
    """Return money through the gateway: a negative row pointing at the charge."""
    result = get_gateway().refund(
        amount_cents=amount_cents,
        currency=charge.currency,
        reference=charge.gateway_reference or charge.idempotency_key,
    )
    label = _refund_label(charge, amount_cents)
    return ChargeRecord.objects.create(
        account_id=charge.account_id,
        kind=ChargeRecord.Kind.REFUND,
        amount_cents=-amount_cents,
        currency=charge.currency,
        status=ChargeRecord.Status.PAID,
        idempotency_key=f"refund:{charge.pk}",
        description=f"{label} of {charge.description}"[:255],
        customer_reason=texts.customer_reason,
        staff_note=texts.staff_note,
        refund_of=charge,
        purchase=charge.purchase,
        gateway_reference=result.reference,
        created_by=staff_user if getattr(staff_user, "pk", None) else None,
        paid_at=at,
        created_at=at,
    )


def _end_purchase_grants(
    *, account: Account, charge: ChargeRecord, at: datetime
) -> list[Grant]:
    """End the refunded purchase's grants at ``at``; what they covered before
    stays covered."""
    if not charge.purchase_id:
        return []
    Purchase.objects.filter(pk=charge.purchase_id).update(
        status=Purchase.Status.REFUNDED
    )
    revoked = list(
        Grant.objects.filter(
            purchase_id=charge.purchase_id, revoked_at__isnull=True
        ).select_related("meter")
    )
    Grant.objects.filter(pk__in=[g.pk for g in revoked]).update(
        revoked_at=at, reason="Refunded"
    )
    _apply_new_capacity(
        account=account,
        meters=list({g.meter for g in revoked}),
        at=at,
        cause=f"the refund of {charge.description}",
    )
    return revoked


def create_adjustment_grant(
    *,
    account: Account,
    meter: Meter,
    amount: int,
    reason: str,
    staff_user: User | None,
    expires_at: datetime | None = None,
) -> Grant:
    """Staff add capacity by hand (goodwill, correction), with a reason on record.

    Needs ``billing.adjust_grant``; the system passes None explicitly.
    """
    check_staff_power(actor=staff_user, permission=ADJUST_GRANT, allow_system=True)
    if amount <= 0:
        raise InvalidRequest("An adjustment adds a positive amount.")
    if not reason.strip():
        raise InvalidRequest("Say why: the reason is kept with the grant.")
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise InvalidRequest("The expiry must be in the future.")
    with transaction.atomic():
        account = lock_account(account)
        grant = Grant.objects.create(
            account=account,
            meter=meter,
            amount=amount,
            effective_at=now,
            expires_at=expires_at,
            source=Grant.Source.ADJUSTMENT,
            reason=reason.strip()[:200],
            created_by=staff_user if getattr(staff_user, "pk", None) else None,
            created_at=now,
        )
        _apply_new_capacity(account=account, meters=[meter], at=now)
        record_audit(
            action=AuditEntry.Action.GRANT_ADJUSTED,
            actor=staff_user,
            target=grant,
            at=now,
            account=account,
            after={
                "meter": meter.code,
                "amount": amount,
                "effective_at": now,
                "expires_at": expires_at,
            },
            reason=grant.reason,
        )
    return grant


def revoke_grant(
    *,
    grant: Grant,
    staff_user: User | None,
    reason: str = "Revoked by staff",
) -> bool:
    """End a grant now. Idempotent; slots beyond the new limit are suspended.

    Needs ``billing.adjust_grant``; the system passes None explicitly. Only
    a revocation that ended the grant is recorded.
    """
    check_staff_power(actor=staff_user, permission=ADJUST_GRANT, allow_system=True)
    now = timezone.now()
    with transaction.atomic():
        account = lock_account(grant.account)
        ended = Grant.objects.filter(pk=grant.pk, revoked_at__isnull=True).update(
            revoked_at=now, reason=reason[:200]
        )
        if ended:
            _apply_new_capacity(
                account=account,
                meters=[grant.meter],
                at=now,
                cause=f"staff ended {grant.label}",
            )
            record_audit(
                action=AuditEntry.Action.GRANT_REVOKED,
                actor=staff_user,
                target=grant,
                at=now,
                account=account,
                before={"revoked_at": None, "amount": grant.amount},
                after={"revoked_at": now, "amount": grant.amount},
                reason=reason,
            )
    return bool(ended)
