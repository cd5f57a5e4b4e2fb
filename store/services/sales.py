"""Buy themes and bundles, refund sales, apply a licensed theme.

A sale follows the pack purchase path: under the buyer's account lock, the
form's idempotency token finds an earlier sale (a double submit returns it;
the same token sent for another theme or bundle is refused), else one
transaction writes the sale, its charge (paid through the gateway), the
licences and the creators' earnings lines. A declined payment keeps the
sale and a failed charge as a record, with no licence and no earnings.

Lock order: the buyer's and every creator's billing account, in pk order
(``lock_accounts``). The creators' locks serialise their earnings lines, so
year-to-date tiers and the monthly cap are read and written without races.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing.documents import ChargeQuote, LineIn, quote_charge
from billing.errors import (
    AlreadyRefunded,
    IdempotencyConflict,
    InvalidRequest,
    PermissionDenied,
)
from billing.models import Account, AuditEntry, ChargeRecord
from billing.permissions import REFUND_CHARGE, check_staff_power
from billing.services.audit import record_audit
from billing.services.documents import issue_invoice
from billing.services.locks import lock_accounts
from billing.services.payments import charge_and_pay, require_price_shown
from billing.services.refunds import refund_charge
from billing.units import billed_days, period_of, split_by_weights

from ..errors import NotLicensed
from ..models import AppliedTheme, Bundle, EarningLine, Licence, Sale, Theme
from ..revenue import held_back, split_by_tiers
from ..selectors.earnings import (
    month_statement,
    policy_terms_at,
    year_to_date_gross_cents,
)
from ..selectors.purchases import (
    NO_ACCOUNT,
    bundle_line,
    bundle_refusal,
    find_personal_account,
    theme_line,
    theme_refusal,
)


@dataclass(frozen=True, slots=True)
class SaleResult:
    sale: Sale
    created: bool  # False when the idempotency token was seen before

    @property
    def approved(self) -> bool:
        return self.sale.status != Sale.Status.FAILED


def _buyer_account(user: User) -> Account:
    if not user.is_authenticated:  # fails closed should a view forget login
        raise PermissionDenied("Sign in to buy themes.")
    account = find_personal_account(user=user)
    if account is None:
        raise InvalidRequest(NO_ACCOUNT)
    return account


def _lock(buyer: Account, creator_ids: set[int]) -> Account:
    """Lock buyer and creators in pk order; return the locked buyer row."""
    creator_accounts = Account.objects.filter(user_id__in=creator_ids).values_list(
        "pk", flat=True
    )
    return lock_accounts([buyer.pk, *creator_accounts])[buyer.pk]


def _replay(
    account: Account,
    idempotency_key: str,
    *,
    theme_id: int | None = None,
    bundle_id: int | None = None,
) -> SaleResult | None:
    """The first result for this token, if it was used for the same item.

    A token names one theme or one bundle bought by one account; sent for
    anything else it is a conflict, so a stale or tampered form never
    returns (or charges for) another sale.
    """
    existing = Sale.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    if existing.account_id != account.pk:
        raise InvalidRequest("This purchase token belongs to another account.")
    if (existing.theme_id, existing.bundle_id) != (theme_id, bundle_id):
        raise IdempotencyConflict(
            "This confirmation form was already used for another purchase, so"
            " nothing was charged. Please check the details and confirm again."
        )
    return SaleResult(sale=existing, created=False)


def _charge(sale: Sale, *, kind: str, quote: ChargeQuote, actor: User) -> bool:
    """Collect the quoted price; False (sale failed) when the gateway declines."""
    if quote.gross_cents == 0:
        return True
    charge = charge_and_pay(
        account=sale.account,
        kind=kind,
        quote=quote,
        idempotency_key=f"store:{sale.idempotency_key}",
        description=quote.lines[0].line.description,
        actor=actor,
        at=sale.created_at,
    )
    sale.charge = charge
    if charge.status == ChargeRecord.Status.FAILED:
        sale.status = Sale.Status.FAILED
    sale.save(update_fields=["charge", "status"])
    return sale.status == Sale.Status.COMPLETED


def _invoice(sale: Sale, *, quote: ChargeQuote, ends_at: datetime | None) -> None:
    """Invoice a collected sale, as the last step of its transaction
    (``ends_at``: when its licences end, for the invoice's period)."""
    if sale.charge is None:
        return  # a free theme: nothing was charged
    first_day, last_day = billed_days(sale.created_at, ends_at)
    issue_invoice(
        charge=sale.charge,
        quote=quote,
        period_start=first_day,
        period_end=last_day,
        at=sale.created_at,
    )


def purchase_theme(
    *,
    actor: User,
    theme: Theme,
    idempotency_key: str,
    at: datetime | None = None,
    shown_price_cents: int | None = None,
) -> SaleResult:
    """Buy a listed theme once: a perpetual licence, a charge, earnings lines.

    ``at`` back-dates a sale (the demo seed); callers otherwise omit it.
    With ``shown_price_cents`` a price the creator changed since the page
    was shown charges nothing.
    """
    if not idempotency_key:
        raise InvalidRequest("A purchase needs its form's idempotency token.")
    account = _buyer_account(actor)
    with transaction.atomic():
        account = _lock(account, {theme.creator_id})
        replay = _replay(account, idempotency_key, theme_id=theme.pk)
        if replay:
            return replay
        theme = Theme.objects.get(pk=theme.pk)
        at = at or timezone.now()
        refusal = theme_refusal(account=account, user_id=actor.pk, theme=theme, at=at)
        if refusal:
            raise refusal
        sale, quote = _open_sale(
            Sale(
                account=account,
                kind=Sale.Kind.THEME,
                theme=theme,
                idempotency_key=idempotency_key,
                price_cents=theme.price_cents,
                bought_by=actor,
                created_at=at,
            ),
            line=theme_line(theme),
            what=theme.name,
            shown_price_cents=shown_price_cents,
        )
        if _charge(sale, kind=ChargeRecord.Kind.THEME, quote=quote, actor=actor):
            Licence.objects.create(
                account=account, theme=theme, sale=sale, starts_at=at, created_at=at
            )
            _record_earnings(sale=sale, parts=[(theme, sale.price_cents)], at=at)
            _invoice(sale, quote=quote, ends_at=None)
    return SaleResult(sale=sale, created=True)


def _open_sale(
    sale: Sale, *, line: LineIn, what: str, shown_price_cents: int | None
) -> tuple[Sale, ChargeQuote]:
    """Quote the sale at its instant and write it, before its charge; with
    ``shown_price_cents`` a price changed since the page was shown charges
    nothing."""
    quote = quote_charge(account=sale.account, lines=[line], at=sale.created_at)
    require_price_shown(
        shown_cents=shown_price_cents, price_cents=quote.gross_cents, what=what
    )
    sale.status = Sale.Status.COMPLETED
    sale.save(force_insert=True)
    return sale, quote


def purchase_bundle(
    *,
    actor: User,
    bundle: Bundle,
    idempotency_key: str,
    at: datetime | None = None,
    shown_price_cents: int | None = None,
) -> SaleResult:
    """Buy a bundle in its sale window: a licence per theme, split by list price.

    With ``shown_price_cents`` a price changed since the page was shown
    charges nothing.
    """
    if not idempotency_key:
        raise InvalidRequest("A purchase needs its form's idempotency token.")
    account = _buyer_account(actor)
    creators = set(bundle.themes.values_list("creator_id", flat=True))
    with transaction.atomic():
        account = _lock(account, creators)
        replay = _replay(account, idempotency_key, bundle_id=bundle.pk)
        if replay:
            return replay
        bundle = Bundle.objects.get(pk=bundle.pk)
        at = at or timezone.now()
        # Read under the lock: a theme staff pulled a moment ago is not sold.
        themes = list(bundle.themes.order_by("pk"))
        refusal = bundle_refusal(account=account, bundle=bundle, themes=themes, at=at)
        if refusal:
            raise refusal
        sale, quote = _open_sale(
            Sale(
                account=account,
                kind=Sale.Kind.BUNDLE,
                bundle=bundle,
                idempotency_key=idempotency_key,
                price_cents=bundle.price_cents,
                bought_by=actor,
                created_at=at,
            ),
            line=bundle_line(bundle),
            what=bundle.name,
            shown_price_cents=shown_price_cents,
        )
        expires_at = (
            at + timedelta(days=bundle.licence_days) if bundle.licence_days else None
        )
        if _charge(sale, kind=ChargeRecord.Kind.BUNDLE, quote=quote, actor=actor):
            Licence.objects.bulk_create(
                [
                    Licence(
                        account=account,
                        theme=theme,
                        sale=sale,
                        starts_at=at,
                        expires_at=expires_at,
                        created_at=at,
                    )
                    for theme in themes
                ]
            )
            shares = split_by_weights(
                total_cents=sale.price_cents, weights=[t.price_cents for t in themes]
            )
            _record_earnings(
                sale=sale, parts=list(zip(themes, shares, strict=True)), at=at
            )
            _invoice(sale, quote=quote, ends_at=expires_at)
    return SaleResult(sale=sale, created=True)


def _record_earnings(
    *, sale: Sale, parts: list[tuple[Theme, int]], at: datetime
) -> None:
    """Write each creator's lines: tiers on yearly gross, then the monthly cap.

    Called under the creators' account locks, so the year-to-date gross and
    the month's payable cannot move between this read and the insert.
    """
    terms = policy_terms_at(at=at)
    month = period_of(at).start
    position: dict[int, int] = {}
    headroom: dict[int, int | None] = {}
    rows: list[EarningLine] = []
    for theme, gross in parts:
        creator_id = theme.creator_id
        if creator_id not in position:
            position[creator_id] = year_to_date_gross_cents(
                creator_id=creator_id, at=at
            )
            so_far = month_statement(creator_id=creator_id, at=at)
            payable = so_far.payable_cents if so_far else 0
            cap = terms.monthly_cap_cents
            headroom[creator_id] = None if cap is None else cap - payable
        lines = split_by_tiers(
            gross_cents=gross, year_to_date_cents=position[creator_id], terms=terms
        )
        held = held_back(
            creator_cents=[line.creator_cents for line in lines],
            headroom_cents=headroom[creator_id],
        )
        for line, held_cents in zip(lines, held, strict=True):
            rows.append(
                EarningLine(
                    creator_id=creator_id,
                    sale=sale,
                    theme=theme,
                    kind=EarningLine.Kind.SALE,
                    month=month,
                    tier=line.tier,
                    creator_percent=line.creator_percent,
                    gross_cents=line.gross_cents,
                    creator_cents=line.creator_cents,
                    platform_cents=line.platform_cents,
                    held_cents=held_cents,
                    created_at=at,
                )
            )
            room = headroom[creator_id]
            if room is not None:
                headroom[creator_id] = room - (line.creator_cents - held_cents)
        position[creator_id] += gross
    EarningLine.objects.bulk_create(rows)


def _reverse_earnings(*, sale: Sale, at: datetime) -> None:
    """Write the negated twin of each of the sale's lines, dated ``at``.

    A reversal is paid out in ``at``'s month (deducted from that payout) but
    counts in the tier basis of its sale's year (``tier_basis_cents``), so a
    refund never widens a later year's tiers.
    """
    month = period_of(at).start
    EarningLine.objects.bulk_create(
        [
            EarningLine(
                creator_id=line.creator_id,
                sale=sale,
                theme_id=line.theme_id,
                kind=EarningLine.Kind.REFUND,
                month=month,
                tier=line.tier,
                creator_percent=line.creator_percent,
                gross_cents=-line.gross_cents,
                creator_cents=-line.creator_cents,
                platform_cents=-line.platform_cents,
                held_cents=0,
                reverses=line,
                created_at=at,
            )
            for line in sale.earnings.filter(kind=EarningLine.Kind.SALE)
        ]
    )


def refund_sale(
    *,
    sale: Sale,
    actor: User | None,
    customer_reason: str = "",
    staff_note: str = "",
    at: datetime | None = None,
) -> Sale:
    """Refund a sale at ``at`` (now by default): the charge is refunded,
    licences end, earnings lines reversed.

    ``customer_reason`` is shown to the buyer next to the refund;
    ``staff_note`` stays in admin, as for any refund.

    The reversals land in this month's earnings and reduce the tier basis of
    the year the sale was made in, not this year's. Needs
    ``billing.refund_charge``; the system passes None explicitly. One audit
    entry covers the sale and its charge.
    """
    check_staff_power(actor=actor, permission=REFUND_CHARGE, allow_system=True)
    creator_ids = set(
        EarningLine.objects.filter(sale=sale).values_list("creator_id", flat=True)
    )
    now = at or timezone.now()
    with transaction.atomic():
        _lock(sale.account, creator_ids)
        sale = Sale.objects.select_related("charge").get(pk=sale.pk)
        if sale.status != Sale.Status.COMPLETED:
            raise AlreadyRefunded("Only a completed sale can be refunded.")
        refund = None
        if sale.charge is not None:
            refund = refund_charge(
                charge=sale.charge,
                actor=actor,
                customer_reason=customer_reason,
                staff_note=staff_note,
                for_sale=True,
                at=now,
            )
        sale.status = Sale.Status.REFUNDED
        sale.save(update_fields=["status"])
        licences = sale.licences.filter(revoked_at__isnull=True).update(revoked_at=now)
        _reverse_earnings(sale=sale, at=now)
        record_audit(
            action=AuditEntry.Action.REFUND,
            actor=actor,
            target=sale,
            at=now,
            account=sale.account,
            before={"status": Sale.Status.COMPLETED, "price_cents": sale.price_cents},
            after={
                "status": sale.status,
                "charge_id": sale.charge_id,
                "refund_id": refund.pk if refund is not None else None,
                "licences_revoked": licences,
                "staff_note": staff_note.strip(),
            },
            reason=customer_reason.strip(),
        )
    return sale


def apply_theme(*, actor: User, theme: Theme | None) -> AppliedTheme | None:
    """Show a licensed theme on the user's dashboard; None goes back to the default."""
    account = _buyer_account(actor)
    with transaction.atomic():
        lock_accounts([account.pk])
        if theme is None:
            AppliedTheme.objects.filter(user=actor).delete()
            return None
        licensed = (
            Licence.objects.active_at(timezone.now())
            .filter(account=account, theme=theme)
            .exists()
        )
        if not licensed or theme.published_at is None:
            raise NotLicensed(f"You need a live licence for {theme.name} to apply it.")
        applied, _ = AppliedTheme.objects.update_or_create(
            user=actor, defaults={"theme": theme, "applied_at": timezone.now()}
        )
    return applied
