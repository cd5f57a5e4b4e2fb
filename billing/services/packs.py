"""Buy, renew and refund packs; staff grant adjustments.

A purchase is one transaction: the purchase, its charge (paid through the
gateway) and one grant per meter the pack covers. A declined payment keeps
the purchase and a failed charge as a record, and creates no grant. The form's
idempotency token is the purchase's unique key: under the account lock a
repeat finds the first purchase and returns it.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..errors import (
    AlreadyRefunded,
    InvalidRequest,
    NotRenewable,
    PermissionDenied,
)
from ..models import Account, ChargeRecord, Grant, Meter, Pack, Purchase
from ..selectors import (
    can_manage_account,
    pack_applies,
    renewal_refusal,
    renewal_start,
)
from ..units import period_of
from .job_slots import reconcile_job_slots
from .locks import lock_account
from .payments import get_gateway
from .usage import burn_top_ups


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


def _replay(account: Account, idempotency_key: str) -> PurchaseResult | None:
    existing = Purchase.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    if existing.account_id != account.pk:
        raise InvalidRequest("This purchase token belongs to another account.")
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
    charge = ChargeRecord.objects.create(
        account=account,
        kind=_charge_kind(pack, renewal=renewal_of is not None),
        amount_cents=pack.price_cents,
        currency=settings.BILLING_CURRENCY,
        status=ChargeRecord.Status.PENDING,
        idempotency_key=f"purchase:{idempotency_key}",
        description=("Renewal: " if renewal_of else "") + pack.name,
        purchase=purchase,
        created_by=purchase.bought_by,
        created_at=now,
    )
    result = get_gateway().charge(
        amount_cents=pack.price_cents,
        currency=settings.BILLING_CURRENCY,
        reference=charge.idempotency_key,
    )
    if not result.approved:
        charge.status = ChargeRecord.Status.FAILED
        charge.failure_reason = result.decline_reason[:255]
        charge.save(update_fields=["status", "failure_reason"])
        purchase.status = Purchase.Status.FAILED
        purchase.save(update_fields=["status"])
        return PurchaseResult(purchase=purchase, charge=charge, created=True)

    charge.status = ChargeRecord.Status.PAID
    charge.paid_at = now
    charge.gateway_reference = result.reference
    charge.save(update_fields=["status", "paid_at", "gateway_reference"])
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
    return PurchaseResult(purchase=purchase, charge=charge, created=True)


def _apply_new_capacity(*, account: Account, meters: list[Meter], at: datetime) -> None:
    """Let fresh capacity cover this period's excess and restore suspended slots."""
    for meter in meters:
        if meter.kind == Meter.Kind.COUNTER:
            burn_top_ups(
                account_ids=[account.pk], meter_id=meter.pk, period=period_of(at), at=at
            )
        elif meter.kind == Meter.Kind.ALLOCATION:
            reconcile_job_slots(account=account, at=at)


def _check_staff(user: object) -> None:
    """Refunds and adjustments are staff decisions; None is a system caller."""
    if user is not None and not getattr(user, "is_staff", False):
        raise PermissionDenied("Only staff can refund charges or adjust grants.")


def _check_can_manage(user: object, account: Account) -> None:
    if not can_manage_account(user=user, account=account):
        raise PermissionDenied(
            "Only the account's owners and admins can buy, renew or consent."
        )


def _check_pack_applies(pack: Pack, account: Account) -> None:
    if not pack_applies(pack=pack, account=account):
        raise InvalidRequest(f"{pack.name} is for company accounts only.")


def purchase_pack(
    *, account: Account, pack: Pack, user: object, idempotency_key: str
) -> PurchaseResult:
    """Buy a pack once per idempotency token, whatever the number of submits."""
    _check_can_manage(user, account)
    if not idempotency_key:
        raise InvalidRequest("A purchase needs its form's idempotency token.")
    with transaction.atomic():
        account = lock_account(account)
        replay = _replay(account, idempotency_key)
        if replay:
            return replay
        if not pack.is_active:
            raise InvalidRequest(f"{pack.name} is not on sale.")
        _check_pack_applies(pack, account)
        now = timezone.now()
        return _buy(
            account=account,
            pack=pack,
            user=user,
            idempotency_key=idempotency_key,
            starts_at=now,
            now=now,
        )


def renew_purchase(
    *, purchase: Purchase, user: object, idempotency_key: str
) -> PurchaseResult:
    """Explicitly renew a subscription pack (nothing renews by itself)."""
    account = purchase.account
    _check_can_manage(user, account)
    if not idempotency_key:
        raise InvalidRequest("A renewal needs its form's idempotency token.")
    with transaction.atomic():
        account = lock_account(account)
        replay = _replay(account, idempotency_key)
        if replay:
            return replay
        purchase = Purchase.objects.select_related("pack").get(pk=purchase.pk)
        pack = purchase.pack
        refusal = renewal_refusal(purchase=purchase)
        if refusal:
            raise NotRenewable(refusal)
        _check_pack_applies(pack, account)
        now = timezone.now()
        return _buy(
            account=account,
            pack=pack,
            user=user,
            idempotency_key=idempotency_key,
            starts_at=renewal_start(purchase=purchase, at=now),
            now=now,
            renewal_of=purchase,
        )


SALE_KINDS = (ChargeRecord.Kind.THEME, ChargeRecord.Kind.BUNDLE)


def refund_charge(
    *,
    charge: ChargeRecord,
    staff_user: object,
    reason: str = "",
    for_sale: bool = False,
) -> ChargeRecord:
    """Refund a charge: a negative row pointing at it, and its purchase's grants end.

    A pending charge is voided instead (nothing was collected). The original
    row keeps its amount: the ledger is append-only. Theme and bundle charges
    are refunded only through their sale (``for_sale``), which also ends the
    licences and reverses the creator's earnings.
    """
    _check_staff(staff_user)
    with transaction.atomic():
        account = lock_account(charge.account)
        charge = ChargeRecord.objects.select_related("purchase").get(pk=charge.pk)
        if charge.kind == ChargeRecord.Kind.REFUND:
            raise InvalidRequest("A refund cannot be refunded.")
        if charge.kind in SALE_KINDS and not for_sale:
            raise InvalidRequest(
                "Refund theme and bundle purchases from the store's Sales page, so "
                "the licence and the creator's earnings are reversed too."
            )
        if charge.refunds.exists() or charge.status == ChargeRecord.Status.VOID:
            raise AlreadyRefunded("This charge was already refunded or voided.")
        now = timezone.now()
        if charge.status == ChargeRecord.Status.PENDING:
            ChargeRecord.objects.filter(
                pk=charge.pk, status=ChargeRecord.Status.PENDING
            ).update(status=ChargeRecord.Status.VOID)
            charge.status = ChargeRecord.Status.VOID
            result_row = charge
        elif charge.status == ChargeRecord.Status.PAID:
            result = get_gateway().refund(
                amount_cents=charge.amount_cents,
                currency=charge.currency,
                reference=charge.gateway_reference or charge.idempotency_key,
            )
            result_row = ChargeRecord.objects.create(
                account=account,
                kind=ChargeRecord.Kind.REFUND,
                amount_cents=-charge.amount_cents,
                currency=charge.currency,
                status=ChargeRecord.Status.PAID,
                idempotency_key=f"refund:{charge.pk}",
                description=(
                    f"Refund of {charge.description}: {reason}"
                    if reason
                    else f"Refund of {charge.description}"
                )[:255],
                refund_of=charge,
                purchase=charge.purchase,
                gateway_reference=result.reference,
                created_by=staff_user if getattr(staff_user, "pk", None) else None,
                paid_at=now,
                created_at=now,
            )
        else:
            raise InvalidRequest(
                "A failed charge collected nothing; there is nothing to refund."
            )
        if charge.purchase_id:
            Purchase.objects.filter(pk=charge.purchase_id).update(
                status=Purchase.Status.REFUNDED
            )
            revoked = list(
                Grant.objects.filter(
                    purchase_id=charge.purchase_id, revoked_at__isnull=True
                ).select_related("meter")
            )
            Grant.objects.filter(pk__in=[g.pk for g in revoked]).update(
                revoked_at=now, reason="Refunded"
            )
            if any(g.meter.kind == Meter.Kind.ALLOCATION for g in revoked):
                reconcile_job_slots(account=account, at=now)
    return result_row


def create_adjustment_grant(
    *,
    account: Account,
    meter: Meter,
    amount: int,
    reason: str,
    staff_user: object,
    expires_at: datetime | None = None,
) -> Grant:
    """Staff add capacity by hand (goodwill, correction), with a reason on record."""
    _check_staff(staff_user)
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
        )
        _apply_new_capacity(account=account, meters=[meter], at=now)
    return grant


def revoke_grant(*, grant: Grant, reason: str = "Revoked by staff") -> bool:
    """End a grant now. Idempotent; slots beyond the new limit are suspended."""
    with transaction.atomic():
        account = lock_account(grant.account)
        ended = Grant.objects.filter(pk=grant.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), reason=reason[:200]
        )
        if ended and grant.meter.kind == Meter.Kind.ALLOCATION:
            reconcile_job_slots(account=account)
    return bool(ended)
