"""Reads for buying in the store: what a buyer may buy, and their receipts.

The refusal rules here are the sale services' own: ``purchase_theme`` and
``purchase_bundle`` call ``theme_refusal`` and ``bundle_refusal`` under the
buyer's lock, and the confirmation pages call them to decide whether to
offer the button at all, so a page never offers what the service refuses.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import User
from billing.documents import LineIn
from billing.errors import BillingError, InvalidRequest, NotFound
from billing.models import Account, ChargeRecord
from billing.permissions import holds_staff_power
from billing.selectors import ChargePreview, charge_preview

from ..errors import AlreadyOwned, NotOnSale, OwnTheme
from ..models import AppliedTheme, Bundle, Licence, Sale, Theme
from . import BundleCard, get_bundle, longest_licences

# Django's own view permission on sales, used as a staff power: staff who
# may read sales in admin may read any buyer's receipt.
VIEW_SALE = "store.view_sale"


# Refusals ------------------------------------------------------------------


def theme_refusal(
    *, account: Account, user_id: int | None, theme: Theme, at: datetime
) -> BillingError | None:
    """Why ``account`` cannot buy ``theme`` at ``at`` (the error the sale raises).

    Owned means a live licence that never ends, from a theme sale or a
    bundle: paying again would buy nothing. A time-limited bundle licence
    does not count, so its holder may buy the theme to keep it for good.
    """
    if not theme.is_listed:
        return NotOnSale(f"{theme.name} is not on sale.")
    if theme.creator_id == user_id:
        return OwnTheme("You made this theme: there is nothing to buy.")
    owned = (
        Licence.objects.active_at(at)
        .filter(account=account, theme=theme, expires_at__isnull=True)
        .exists()
    ) or Sale.objects.filter(
        account=account, theme=theme, status=Sale.Status.COMPLETED
    ).exists()
    if owned:
        return AlreadyOwned(f"You already own {theme.name}: apply it from My themes.")
    return None


def bundle_refusal(
    *, account: Account, bundle: Bundle, themes: list[Theme], at: datetime
) -> BillingError | None:
    """Why ``account`` cannot buy ``bundle`` at ``at`` (the error the sale raises).

    ``themes`` are all the bundle's themes, read by the caller (under the
    lock in the service): a bundle sells only while every one is listed.
    Owning some of them already does not refuse the bundle.
    """
    state = bundle.state_at(at)
    if state == Bundle.State.UPCOMING:
        opens = bundle.available_from
        return NotOnSale(
            f"{bundle.name} goes on sale {opens.day} {opens:%b %Y, %H:%M} UTC."
        )
    if state == Bundle.State.ENDED:
        return NotOnSale(f"{bundle.name} is no longer on sale: its sale has ended.")
    if not themes:
        return NotOnSale(f"{bundle.name} has no themes yet.")
    if not all(theme.is_listed for theme in themes):
        return NotOnSale(
            f"{bundle.name} is paused: one of its themes is not on sale "
            "right now (in review or withdrawn)."
        )
    if Sale.objects.filter(
        account=account, bundle=bundle, status=Sale.Status.COMPLETED
    ).exists():
        return AlreadyOwned(f"You already bought {bundle.name}.")
    return None


def find_personal_account(*, user: User) -> Account | None:
    """The buyer's personal account: store purchases are always paid from it."""
    return Account.objects.filter(user_id=user.pk).first()


NO_ACCOUNT = "You have no personal billing account to pay from."


# Confirmation pages ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThemeOffer:
    theme: Theme
    account: Account | None  # pays; None when the user has no personal account
    refusal: BillingError | None  # None: the theme can be bought now
    licence: Licence | None  # a live licence already held, the longest one
    charge: ChargePreview | None = None  # what confirming collects; None if refused


def theme_line(theme: Theme) -> LineIn:
    """The invoice line of a theme sale, quoted on its page and charged."""
    return LineIn(description=f"Theme: {theme.name}", unit_net_cents=theme.price_cents)


def bundle_line(bundle: Bundle) -> LineIn:
    """The invoice line of a bundle sale, quoted on its page and charged."""
    return LineIn(
        description=f"Bundle: {bundle.name}", unit_net_cents=bundle.price_cents
    )


def theme_offer(*, user: User, theme: Theme, at: datetime | None = None) -> ThemeOffer:
    """What buying ``theme`` would mean for ``user`` now, or why it cannot."""
    at = at or timezone.now()
    account = find_personal_account(user=user)
    if account is None:
        return ThemeOffer(
            theme=theme, account=None, refusal=InvalidRequest(NO_ACCOUNT), licence=None
        )
    licences = sorted(
        Licence.objects.active_at(at).filter(account=account, theme=theme),
        key=lambda lic: (lic.expires_at is None, lic.expires_at or at),
    )
    refusal = theme_refusal(account=account, user_id=user.pk, theme=theme, at=at)
    charge = None
    if refusal is None:
        charge = charge_preview(account=account, lines=[theme_line(theme)], at=at)
    return ThemeOffer(
        theme=theme,
        account=account,
        refusal=refusal,
        licence=licences[-1] if licences else None,
        charge=charge,
    )


@dataclass(frozen=True, slots=True)
class BundleLine:
    theme: Theme
    made_by_you: bool
    licence: Licence | None  # a live licence already held, the longest one


@dataclass(frozen=True, slots=True)
class BundleOffer:
    card: BundleCard
    account: Account | None  # pays; None when the user has no personal account
    refusal: BillingError | None  # None: the bundle can be bought now
    lines: list[BundleLine]  # every theme in the bundle, and what the buyer has
    sale: Sale | None  # the buyer's completed purchase of this bundle, if any
    charge: ChargePreview | None = None  # what confirming collects; None if refused

    @property
    def held(self) -> list[BundleLine]:
        """Themes the buyer already has or made: the bundle still includes them."""
        return [line for line in self.lines if line.licence or line.made_by_you]


def bundle_offer(
    *, user: User, bundle_id: int, at: datetime | None = None
) -> BundleOffer:
    """What buying the bundle would mean for ``user`` now, or why it cannot."""
    at = at or timezone.now()
    card = get_bundle(bundle_id=bundle_id, at=at)
    account = find_personal_account(user=user)
    user_id = user.pk
    held: dict[int, Licence] = {}
    refusal: BillingError | None = InvalidRequest(NO_ACCOUNT)
    sale = None
    charge = None
    if account is not None:
        held = longest_licences(
            Licence.objects.active_at(at).filter(
                account=account, theme__in=[t.pk for t in card.themes]
            )
        )
        refusal = bundle_refusal(
            account=account, bundle=card.bundle, themes=card.themes, at=at
        )
        if isinstance(refusal, AlreadyOwned):
            sale = Sale.objects.filter(
                account=account, bundle=card.bundle, status=Sale.Status.COMPLETED
            ).first()
        if refusal is None:
            charge = charge_preview(
                account=account, lines=[bundle_line(card.bundle)], at=at
            )
    return BundleOffer(
        card=card,
        account=account,
        refusal=refusal,
        lines=[
            BundleLine(
                theme=theme,
                made_by_you=theme.creator_id == user_id,
                licence=held.get(theme.pk),
            )
            for theme in card.themes
        ],
        sale=sale,
        charge=charge,
    )


def find_sale_by_token(*, user: User, token: str) -> Sale | None:
    """The sale a confirmation form's token already made for this user, if any."""
    return Sale.objects.filter(idempotency_key=token, account__user_id=user.pk).first()


# Receipts ----------------------------------------------------------------------


def get_sale_for_viewer(*, user: User, sale_id: int) -> Sale:
    """A sale for its buyer, or for staff who may read sales; NotFound otherwise.

    Others get NotFound, not a refusal, so sale ids reveal nothing.
    """
    sale = (
        Sale.objects.select_related(
            "account", "theme__creator", "bundle", "charge", "bought_by"
        )
        .filter(pk=sale_id)
        .first()
    )
    if sale is None:
        raise NotFound("No such receipt.")
    is_buyer = sale.account.user_id is not None and sale.account.user_id == user.pk
    if not is_buyer and not holds_staff_power(actor=user, permission=VIEW_SALE):
        raise NotFound("No such receipt.")
    return sale


@dataclass(frozen=True, slots=True)
class ReceiptLicence:
    theme: Theme
    expires_at: datetime | None  # None: perpetual
    revoked_at: datetime | None
    live: bool
    applied: bool  # on the buyer's dashboard now
    # The buyer also owns this theme for good through another purchase, so
    # this licence's end takes nothing away.
    owned_for_good: bool = False


@dataclass(frozen=True, slots=True)
class SaleReceipt:
    sale: Sale
    charges: list[ChargeRecord]  # the payment, then any refund of it
    licences: list[ReceiptLicence]  # what the sale licensed, by theme name
    for_buyer: bool  # False for staff reading someone else's receipt

    @property
    def can_apply(self) -> list[ReceiptLicence]:
        """Live licences the buyer could apply now (not already applied)."""
        if not self.for_buyer:
            return []
        return [lic for lic in self.licences if lic.live and not lic.applied]


def sale_receipt(
    *, sale: Sale, viewer: User, at: datetime | None = None
) -> SaleReceipt:
    """The receipt of a sale: its charges with their invoice and credit
    notes, the licences it made and their state."""
    at = at or timezone.now()
    charges = []
    if sale.charge_id is not None:
        # The payment, then its refund: one query with their documents.
        charges = list(
            ChargeRecord.objects.filter(
                Q(pk=sale.charge_id) | Q(refund_of_id=sale.charge_id)
            )
            .select_related("invoice", "credit_note")
            .order_by("pk")
        )
    # Store sales are paid from personal accounts, which have a user.
    buyer_id = sale.account.user_id
    applied_id = (
        None
        if buyer_id is None
        else AppliedTheme.objects.filter(user_id=buyer_id)
        .values_list("theme_id", flat=True)
        .first()
    )
    licences = list(sale.licences.select_related("theme").order_by("theme__name", "pk"))
    for_good = set(
        Licence.objects.filter(
            account_id=sale.account_id,
            theme_id__in=[licence.theme_id for licence in licences],
            expires_at__isnull=True,
            revoked_at__isnull=True,
        )
        .exclude(sale_id=sale.pk)
        .values_list("theme_id", flat=True)
    )
    return SaleReceipt(
        sale=sale,
        charges=charges,
        licences=[
            ReceiptLicence(
                theme=licence.theme,
                expires_at=licence.expires_at,
                revoked_at=licence.revoked_at,
                live=licence.is_active_at(at),
                applied=licence.theme_id == applied_id,
                owned_for_good=licence.theme_id in for_good,
            )
            for licence in licences
        ],
        for_buyer=sale.account.user_id == viewer.pk,
    )


def list_sales(*, user: User) -> QuerySet[Sale]:
    """The user's paid and refunded store purchases, newest first.

    Declined attempts are left out, as for packs: the charges ledger keeps them.
    """
    return (
        Sale.objects.filter(account__user_id=user.pk)
        .exclude(status=Sale.Status.FAILED)
        .select_related("theme", "bundle")
        .order_by("-created_at", "-pk")
    )
