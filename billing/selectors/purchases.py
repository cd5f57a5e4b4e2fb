"""Purchases, their terms, reminders, renewals and what a purchase would change."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone
from django_countries import countries

from ..documents import ChargeQuote, LineIn, pack_line, quote_charge
from ..errors import NotFound
from ..models import (
    Account,
    Alert,
    Meter,
    Pack,
    Purchase,
)
from ..units import format_percent
from .quotas import account_quotas


def list_active_packs(
    *, account: Account, at: datetime | None = None
) -> QuerySet[Purchase]:
    at = at or timezone.now()
    return account.purchases.filter(
        status=Purchase.Status.COMPLETED, expires_at__gt=at
    ).select_related("pack")


# Expiry reminders go out this long before a pack's term ends (7 days and 1
# day), unless it was renewed; each is an alert whose reference names the
# purchase and the reminder.
REMINDERS = [(timedelta(days=1), "1d"), (timedelta(days=7), "7d")]


REMINDER_DAYS = {"1d": 1, "7d": 7}


def reminder_reference(*, purchase_id: int, window: str) -> str:
    return f"purchase:{purchase_id}:{window}"


def expires_soon(*, purchase: Purchase, at: datetime) -> bool:
    """Within the reminder window: the overview points it out."""
    return at < purchase.expires_at <= at + REMINDERS[-1][0]


@dataclass(frozen=True, slots=True)
class SentReminder:
    days_before: int
    sent_at: datetime


def sent_reminders(*, account: Account) -> dict[int, list[SentReminder]]:
    """The expiry reminders already sent, per purchase id, earliest first."""
    sent: dict[int, list[SentReminder]] = defaultdict(list)
    rows = (
        Alert.objects.filter(
            account=account,
            kind=Alert.Kind.EXPIRING_SOON,
            reference__startswith="purchase:",
        )
        .order_by("created_at")
        .values_list("reference", "created_at")
    )
    for reference, created_at in rows:
        _, purchase_id, window = (reference.split(":") + ["", ""])[:3]
        if purchase_id.isdigit() and window in REMINDER_DAYS:
            sent[int(purchase_id)].append(
                SentReminder(days_before=REMINDER_DAYS[window], sent_at=created_at)
            )
    return dict(sent)


@dataclass(frozen=True, slots=True)
class LimitChange:
    meter: Meter
    amount: int
    limit_before: int
    limit_after: int


@dataclass(frozen=True, slots=True)
class ChargePreview:
    """What a confirmation page shows and posts: price, tax and total.

    The purchase services quote the same lines at confirmation and refuse a
    total other than the one shown, so the page posts ``gross_cents``.
    """

    quote: ChargeQuote

    @property
    def net_cents(self) -> int:
        return self.quote.net_cents

    @property
    def tax_cents(self) -> int:
        return self.quote.tax_cents

    @property
    def gross_cents(self) -> int:
        return self.quote.gross_cents

    @property
    def reverse_charge(self) -> bool:
        return self.quote.treatment.reverse_charge

    @property
    def adds_tax(self) -> bool:
        """Prices carry tax on top (a rate above 0%, not reverse-charged)."""
        treatment = self.quote.treatment
        return bool(treatment.rate_percent) and not treatment.reverse_charge

    @property
    def rate_label(self) -> str:
        """E.g. "VAT 19% (DE)" or "Reverse charge"; "" when no tax applies."""
        treatment = self.quote.treatment
        if treatment.reverse_charge:
            return "Reverse charge"
        if not treatment.rate_percent:
            return ""
        return f"VAT {format_percent(treatment.rate_percent)}% ({treatment.country})"

    @property
    def tax_label(self) -> str:
        """The tax line's label; "" with no tax line (nothing taxed, or 0%)."""
        return self.rate_label if self.net_cents else ""

    @property
    def billing_country(self) -> str:
        """The country in the buyer's billing details, by name; "" without one."""
        code = self.quote.buyer.country
        return countries.name(code) if code else ""

    @property
    def taxed_country(self) -> str:
        """Whose rate applies, by name (the seller's without a billing country)."""
        return countries.name(self.quote.treatment.country)


def charge_preview(
    *, account: Account, lines: Sequence[LineIn], at: datetime
) -> ChargePreview:
    """Quote ``lines`` as the purchase service will: net, tax at the buyer's
    rate of that day (or reverse charge), and the gross to be collected.

    With no lines it only says which tax the account's prices carry (a
    price list's "plus VAT 19%").
    """
    return ChargePreview(quote=quote_charge(account=account, lines=lines, at=at))


@dataclass(frozen=True, slots=True)
class PurchasePreview:
    pack: Pack
    starts_at: datetime
    expires_at: datetime
    changes: list[LimitChange]
    charge: ChargePreview


def purchase_preview(
    *, account: Account, pack: Pack, starts_at: datetime | None = None
) -> PurchasePreview:
    """What buying ``pack`` changes and costs, before the user confirms.

    A grant starting now adds its amount to today's limit (a gauge's
    capacity, a counter's top-up balance); one starting later changes
    nothing until then.
    """
    now = timezone.now()
    starts_at = starts_at or now
    current = {s.meter.pk: s.limit for s in account_quotas(account=account, at=now)}
    changes = []
    for line in pack.allowances.all():
        before = current.get(line.meter_id, 0)
        after = before + line.amount if starts_at <= now else before
        changes.append(LimitChange(line.meter, line.amount, before, after))
    return PurchasePreview(
        pack=pack,
        starts_at=starts_at,
        expires_at=pack.expiry_from(starts_at),
        changes=changes,
        charge=charge_preview(
            account=account, lines=[pack_line(pack=pack, renewal=False)], at=now
        ),
    )


def purchase_state(*, purchase: Purchase, at: datetime) -> str:
    """active, upcoming (a renewal that starts later), expired or refunded."""
    if purchase.status == Purchase.Status.REFUNDED:
        return "refunded"
    if purchase.expires_at <= at:
        return "expired"
    if purchase.starts_at > at:
        return "upcoming"
    return "active"


def renewal_start(*, purchase: Purchase, at: datetime) -> datetime:
    """Before expiry the new term starts at the old expiry (no gap); after, now."""
    return purchase.expires_at if purchase.expires_at > at else at


# A subscription term can be renewed from this long before its end until
# this long after it; later, the pack is bought again.
RENEWAL_WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class RenewalPreview:
    purchase: Purchase
    refusal: str | None  # why it cannot be renewed now; None when it can
    starts_at: datetime
    expires_at: datetime
    charge: ChargePreview | None  # None when refused: nothing to pay


def renewal_preview(*, purchase: Purchase, at: datetime) -> RenewalPreview:
    """The next term of ``purchase`` and what renewing at ``at`` costs, or
    why it cannot be renewed (as ``renew_purchase`` decides)."""
    refusal = renewal_refusal(purchase=purchase, at=at)
    starts_at = renewal_start(purchase=purchase, at=at)
    charge = None
    if refusal is None:
        charge = charge_preview(
            account=purchase.account,
            lines=[pack_line(pack=purchase.pack, renewal=True)],
            at=at,
        )
    return RenewalPreview(
        purchase=purchase,
        refusal=refusal,
        starts_at=starts_at,
        expires_at=purchase.pack.expiry_from(starts_at),
        charge=charge,
    )


def renewal_refusal(*, purchase: Purchase, at: datetime) -> str | None:
    """Why ``purchase`` cannot be renewed at ``at``, or None when it can.

    Only the latest term of a subscription, within the renewal window around
    its end: renewals cannot be stacked a year ahead. Reads
    ``purchase.renewals.all()`` so listings can prefetch it.
    """
    if not purchase.pack.is_subscription:
        return "Only subscription packs can be renewed; buy this pack again."
    if purchase.status != Purchase.Status.COMPLETED:
        return "Only a paid, unrefunded pack can be renewed."
    if any(r.status == Purchase.Status.COMPLETED for r in purchase.renewals.all()):
        return "This pack was already renewed; renew the newest term."
    if not purchase.pack.is_active:
        return f"{purchase.pack.name} is no longer sold and cannot be renewed."
    opens = purchase.expires_at - RENEWAL_WINDOW
    if at < opens:
        return (
            f"Renewal opens on {opens.day} {opens:%b %Y}, "
            f"{RENEWAL_WINDOW.days} days before this term ends."
        )
    if at > purchase.expires_at + RENEWAL_WINDOW:
        return (
            f"This term ended more than {RENEWAL_WINDOW.days} days ago: "
            "buy the pack again."
        )
    return None


def list_purchases(*, account: Account) -> QuerySet[Purchase]:
    """Paid and refunded purchases, newest term first (declines are in the ledger)."""
    return (
        account.purchases.exclude(status=Purchase.Status.FAILED)
        .select_related("pack")
        .prefetch_related("renewals", "pack__allowances__meter")
        .order_by("-expires_at", "-pk")
    )


def get_purchase_for_account(*, account: Account, purchase_id: int) -> Purchase:
    try:
        return account.purchases.select_related("pack", "bought_by").get(pk=purchase_id)
    except Purchase.DoesNotExist:
        raise NotFound("No such purchase on this account.") from None


def find_purchase_by_token(*, account: Account, token: str) -> Purchase | None:
    """The purchase a confirmation form's idempotency token already made, if any."""
    return account.purchases.filter(idempotency_key=token).first()


@dataclass(frozen=True, slots=True)
class RenewalTerms:
    """How a subscription pack is kept going: reminders this many days before
    a term ends (earliest first), renewal from ``window_days`` before its end
    until ``window_days`` after."""

    reminder_days: tuple[int, ...]
    window_days: int


def renewal_terms() -> RenewalTerms:
    """The reminder and renewal-window rules as numbers, so pages word them
    from the same constants the reminder task and ``renewal_refusal`` use."""
    return RenewalTerms(
        reminder_days=tuple(sorted((w.days for w, _ in REMINDERS), reverse=True)),
        window_days=RENEWAL_WINDOW.days,
    )
