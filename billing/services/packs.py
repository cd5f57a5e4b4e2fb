"""Buy and renew packs.

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

from ..documents import pack_line, quote_charge
from ..errors import (
    IdempotencyConflict,
    InvalidRequest,
    NotRenewable,
    PermissionDenied,
)
from ..models import (
    Account,
    ChargeRecord,
    EventType,
    Grant,
    Pack,
    Purchase,
)
from ..selectors import (
    can_manage_account,
    pack_applies,
    renewal_refusal,
    renewal_start,
)
from ..units import billed_days
from .documents import issue_invoice
from .grants import apply_new_capacity
from .locks import lock_account
from .payments import charge_and_pay, require_price_shown
from .webhook_events import purchase_event, record_events


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
    # A purchase and its charge are written in one transaction.
    charge = existing.charges.exclude(kind=ChargeRecord.Kind.REFUND).earliest("pk")
    return PurchaseResult(purchase=existing, charge=charge, created=False)


def _buy(
    *,
    account: Account,
    pack: Pack,
    actor: User,
    idempotency_key: str,
    shown_price_cents: int | None,
    starts_at: datetime,
    at: datetime,
    renewal_of: Purchase | None = None,
) -> PurchaseResult:
    """Quote the pack at ``at``, then create purchase + charge, collect
    payment, and on approval the grants. With ``shown_price_cents`` a price
    changed since the page was shown charges nothing."""
    quote = quote_charge(
        account=account,
        lines=[pack_line(pack=pack, renewal=renewal_of is not None)],
        at=at,
    )
    require_price_shown(
        shown_cents=shown_price_cents, price_cents=quote.gross_cents, what=pack.name
    )
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
        bought_by=actor if getattr(actor, "pk", None) else None,
        created_at=at,
    )
    charge = charge_and_pay(
        account=account,
        kind=_charge_kind(pack, renewal=renewal_of is not None),
        quote=quote,
        idempotency_key=f"purchase:{idempotency_key}",
        description=quote.lines[0].line.description,
        actor=purchase.bought_by,
        at=at,
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
                created_at=at,
            )
            for line in lines
        ]
    )
    apply_new_capacity(account=account, meters=[line.meter for line in lines], at=at)
    first_day, last_day = billed_days(purchase.starts_at, purchase.expires_at)
    issue_invoice(
        charge=charge,
        quote=quote,
        period_start=first_day,
        period_end=last_day,
        at=at,
    )
    record_events(
        specs=[
            purchase_event(
                type=EventType.PURCHASE_COMPLETED,
                purchase=purchase,
                at=at,
                dedupe_key=f"purchase.completed:{purchase.pk}",
            )
        ]
    )
    return PurchaseResult(purchase=purchase, charge=charge, created=True)


def _check_can_manage(user: User, account: Account) -> None:
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
    actor: User,
    idempotency_key: str,
    shown_price_cents: int | None = None,
    at: datetime | None = None,
) -> PurchaseResult:
    """Buy a pack once per idempotency token, whatever the number of submits.

    The token replays its first result for the same pack; for another pack
    it is refused (``idempotency_conflict``) and nothing is charged. With
    ``shown_price_cents`` a price changed since the page was shown charges
    nothing (``require_price_shown``). The term starts at ``at`` (now by
    default). A past ``at`` records history: call in date order (the demo
    seed, a backfill), as invoices are numbered in the order they are issued.
    """
    _check_can_manage(actor, account)
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
        at = at or timezone.now()
        return _buy(
            account=account,
            pack=pack,
            actor=actor,
            idempotency_key=idempotency_key,
            shown_price_cents=shown_price_cents,
            starts_at=at,
            at=at,
        )


def renew_purchase(
    *,
    purchase: Purchase,
    actor: User,
    idempotency_key: str,
    shown_price_cents: int | None = None,
    at: datetime | None = None,
) -> PurchaseResult:
    """Explicitly renew a subscription pack (nothing renews by itself).

    The token replays its first renewal of this purchase; sent to renew
    another purchase it is refused (``idempotency_conflict``). With
    ``shown_price_cents`` a price changed since the page was shown charges
    nothing.
    """
    account = purchase.account
    _check_can_manage(actor, account)
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
        at = at or timezone.now()
        refusal = renewal_refusal(purchase=purchase, at=at)
        if refusal:
            raise NotRenewable(refusal)
        _check_pack_applies(pack, account)
        return _buy(
            account=account,
            pack=pack,
            actor=actor,
            idempotency_key=idempotency_key,
            shown_price_cents=shown_price_cents,
            starts_at=renewal_start(purchase=purchase, at=at),
            at=at,
            renewal_of=purchase,
        )
