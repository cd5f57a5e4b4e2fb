"""Reads for the store: listings, access, licences, earnings statements.

Earnings statements are computed from the ledger lines grouped by month in
one query and rolled forward through ``revenue.apply_monthly_cap``, the
same function the sale service uses to decide what the cap holds back.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import User
from billing.errors import NotFound
from billing.models import Account
from billing.permissions import (
    REVIEW_THEME,
    VIEW_PAYOUTS,
    check_staff_power,
    holds_staff_power,
)
from billing.units import period_of

from ..models import (
    AppliedTheme,
    Bundle,
    EarningLine,
    Licence,
    Payout,
    RevenuePolicy,
    Sale,
    Theme,
)
from ..revenue import (
    DEFAULT_TERMS,
    MonthEarnings,
    PolicyTerms,
    apply_monthly_cap,
    next_month,
)

# Ended bundles stay on show this long, marked "ended".
ENDED_BUNDLES_SHOWN_FOR = timedelta(days=60)


# Themes --------------------------------------------------------------------


def list_listed_themes() -> QuerySet[Theme]:
    return (
        Theme.objects.listed()
        .select_related("creator")
        .prefetch_related("images")
        .order_by("name", "pk")
    )


def list_sellable_themes() -> QuerySet[Theme]:
    """Themes that may be sold, alone or in a bundle: approved ones only."""
    return Theme.objects.listed()


def _sees_unlisted(user: object, theme: Theme) -> bool:
    """Its creator, and staff who review themes, see a theme before it is listed."""
    if getattr(user, "pk", None) == theme.creator_id:
        return True
    return isinstance(user, User) and holds_staff_power(
        actor=user, permission=REVIEW_THEME
    )


def get_theme_for_viewer(*, user: object, theme_id: int) -> Theme:
    """Listed themes for everyone; unlisted ones for their creator and reviewers."""
    theme = Theme.objects.select_related("creator").filter(pk=theme_id).first()
    if theme is None or not (theme.is_listed or _sees_unlisted(user, theme)):
        raise NotFound("No such theme.")
    return theme


def get_theme_draft(*, user: object, theme_id: int) -> Theme:
    """The latest, possibly unchecked edit: for its creator and reviewers only."""
    theme = Theme.objects.filter(pk=theme_id).first()
    if theme is None or not _sees_unlisted(user, theme):
        raise NotFound("No such theme.")
    return theme


def get_theme_for_creator(*, user: object, theme_id: int) -> Theme:
    theme = Theme.objects.filter(pk=theme_id, creator_id=getattr(user, "pk", None))
    found = theme.prefetch_related("images").first()
    if found is None:
        raise NotFound("No such theme among yours.")
    return found


def list_creator_themes(*, user: object) -> QuerySet[Theme]:
    return Theme.objects.filter(creator_id=user.pk).order_by("-updated_at", "-pk")


def get_published_stylesheet(*, theme_id: int) -> Theme:
    """A theme that has an approved version to serve (listed or not)."""
    theme = (
        Theme.objects.filter(pk=theme_id, published_at__isnull=False)
        .only("pk", "published_stylesheet", "published_at")
        .first()
    )
    if theme is None:
        raise NotFound("No such stylesheet.")
    return theme


# Buyers --------------------------------------------------------------------


def personal_account(*, user: object) -> Account:
    account = Account.objects.filter(user_id=getattr(user, "pk", None)).first()
    if account is None:
        raise NotFound("This user has no personal billing account.")
    return account


@dataclass(frozen=True, slots=True)
class ThemeAccess:
    is_creator: bool
    licence: Licence | None  # the live licence, if any
    owns_perpetual: bool
    applied: bool


def theme_access(
    *, user: object, theme: Theme, at: datetime | None = None
) -> ThemeAccess:
    """What this user may do with this theme: buy it, apply it, or neither."""
    at = at or timezone.now()
    licences = list(
        Licence.objects.active_at(at)
        .filter(account__user_id=user.pk, theme=theme)
        .order_by("expires_at")
    )
    perpetual = next((lic for lic in licences if lic.expires_at is None), None)
    return ThemeAccess(
        is_creator=theme.creator_id == user.pk,
        licence=perpetual or (licences[-1] if licences else None),
        owns_perpetual=perpetual is not None,
        applied=AppliedTheme.objects.filter(user_id=user.pk, theme=theme).exists(),
    )


@dataclass(frozen=True, slots=True)
class OwnedTheme:
    theme: Theme
    expires_at: datetime | None  # None: perpetual
    applied: bool
    sale_id: int  # the purchase that gave this licence (its receipt)


def longest_licences(licences: Iterable[Licence]) -> dict[int, Licence]:
    """The longest-lasting of the given licences per theme (a perpetual one
    beats any that ends; of two that end, the later)."""
    best: dict[int, Licence] = {}
    for licence in licences:
        held = best.get(licence.theme_id)
        if held is None or (
            held.expires_at is not None
            and (licence.expires_at is None or licence.expires_at > held.expires_at)
        ):
            best[licence.theme_id] = licence
    return best


def list_owned_themes(*, user: object, at: datetime | None = None) -> list[OwnedTheme]:
    """The user's live licences, one row per theme (the longest-lasting wins)."""
    at = at or timezone.now()
    licences = (
        Licence.objects.active_at(at)
        .filter(account__user_id=user.pk)
        .select_related("theme")
        .order_by("theme__name", "theme_id")
    )
    applied_id = (
        AppliedTheme.objects.filter(user_id=user.pk)
        .values_list("theme_id", flat=True)
        .first()
    )
    best = longest_licences(licences)
    return [
        OwnedTheme(
            theme=lic.theme,
            expires_at=lic.expires_at,
            applied=lic.theme_id == applied_id,
            sale_id=lic.sale_id,
        )
        for lic in best.values()
    ]


def active_theme_stylesheet(*, user: object) -> tuple[int, datetime] | None:
    """(theme id, version) of the applied theme while a licence for it is live.

    One query: the applied row, joined to its theme, filtered by a live
    licence. An expired licence simply stops matching: the default theme.
    """
    now = timezone.now()
    live = Licence.objects.active_at(now).filter(
        account__user_id=OuterRef("user_id"), theme_id=OuterRef("theme_id")
    )
    return (
        AppliedTheme.objects.filter(
            Exists(live), user_id=user.pk, theme__published_at__isnull=False
        )
        .values_list("theme_id", "theme__published_at")
        .first()
    )


def active_theme_stylesheet_url(*, user: object) -> str | None:
    from django.urls import reverse

    found = active_theme_stylesheet(user=user)
    if found is None:
        return None
    theme_id, version = found
    url = reverse("dashboard:store-theme-css", args=[theme_id])
    return f"{url}?v={int(version.timestamp())}"


# Bundles ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BundleCard:
    bundle: Bundle
    state: str
    themes: list[Theme]
    list_total_cents: int

    @property
    def state_label(self) -> str:
        return Bundle.State(self.state).label

    @property
    def saving_cents(self) -> int:
        return max(self.list_total_cents - self.bundle.price_cents, 0)


def _bundle_card(bundle: Bundle, at: datetime) -> BundleCard:
    themes = list(bundle.themes.all())
    return BundleCard(
        bundle=bundle,
        state=bundle.state_at(at),
        themes=themes,
        list_total_cents=sum(t.price_cents for t in themes),
    )


def list_bundles_on_show(*, at: datetime | None = None) -> list[BundleCard]:
    """Upcoming and live bundles, and those ended in the last 60 days."""
    at = at or timezone.now()
    bundles = (
        Bundle.objects.filter(available_until__gt=at - ENDED_BUNDLES_SHOWN_FOR)
        .prefetch_related(
            Prefetch("themes", queryset=Theme.objects.order_by("name", "pk"))
        )
        .order_by("available_from", "pk")
    )
    return [_bundle_card(b, at) for b in bundles]


def get_bundle(*, bundle_id: int, at: datetime | None = None) -> BundleCard:
    bundle = (
        Bundle.objects.filter(pk=bundle_id)
        .prefetch_related(
            Prefetch(
                "themes",
                queryset=Theme.objects.select_related("creator").order_by("name", "pk"),
            )
        )
        .first()
    )
    if bundle is None:
        raise NotFound("No such bundle.")
    return _bundle_card(bundle, at or timezone.now())


def bundle_bought(*, user: object, bundle: Bundle) -> bool:
    return Sale.objects.filter(
        account__user_id=user.pk, bundle=bundle, status=Sale.Status.COMPLETED
    ).exists()


# Policy ------------------------------------------------------------------------


def list_policies() -> list[RevenuePolicy]:
    return list(
        RevenuePolicy.objects.prefetch_related("tiers").order_by("effective_from")
    )


def terms_at(policies: list[RevenuePolicy], moment: datetime) -> PolicyTerms:
    """The policy in effect at ``moment`` (policies sorted by effective_from)."""
    current = None
    for policy in policies:
        if policy.effective_from <= moment:
            current = policy
    return current.terms() if current else DEFAULT_TERMS


def policy_terms_at(*, at: datetime) -> PolicyTerms:
    return terms_at(list_policies(), at)


# Earnings ------------------------------------------------------------------


def _month_end(month: date) -> datetime:
    return period_of(month).ends_at - timedelta(microseconds=1)


def _statements(
    *, creator_ids: list[int] | None, at: datetime
) -> dict[int, list[MonthEarnings]]:
    """Per creator, every month from their first earnings to ``at``'s month."""
    lines = EarningLine.objects.all()
    if creator_ids is not None:
        lines = lines.filter(creator_id__in=creator_ids)
    totals = lines.values("creator_id", "month").annotate(earned=Sum("creator_cents"))
    by_creator: dict[int, dict[date, int]] = defaultdict(dict)
    for row in totals:
        by_creator[row["creator_id"]][row["month"]] = row["earned"]
    policies = list_policies()
    this_month = period_of(at).start
    statements = {}
    for creator_id, months in by_creator.items():
        month, rows = min(months), []
        while month <= max(this_month, max(months)):
            cap = terms_at(policies, min(_month_end(month), at)).monthly_cap_cents
            rows.append((month, months.get(month, 0), cap))
            month = next_month(month)
        statements[creator_id] = apply_monthly_cap(earned=rows)
    return statements


def month_statement(*, creator_id: int, at: datetime) -> MonthEarnings | None:
    """This month so far for one creator (used under the creator's lock)."""
    rows = _statements(creator_ids=[creator_id], at=at).get(creator_id)
    if not rows:
        return None
    this_month = period_of(at).start
    return next((r for r in rows if r.month == this_month), None)


def tier_basis_cents(*, creator_id: int, year: int, at: datetime) -> int:
    """Gross counted towards ``year``'s tiers, as recorded up to ``at``.

    A refund counts in the year of the sale it reverses, whenever it came:
    a December sale refunded in January must not widen January's tiers.
    """
    first, after = date(year, 1, 1), date(year + 1, 1, 1)
    # Every line of the year was recorded in it or later (a refund follows
    # its sale), so month >= first narrows the (creator, month) index scan.
    counted = Q(kind=EarningLine.Kind.SALE, month__lt=after) | Q(
        kind=EarningLine.Kind.REFUND,
        reverses__month__gte=first,
        reverses__month__lt=after,
    )
    return (
        EarningLine.objects.filter(
            counted, creator_id=creator_id, month__gte=first, created_at__lte=at
        ).aggregate(total=Sum("gross_cents"))["total"]
        or 0
    )


def year_to_date_gross_cents(*, creator_id: int, at: datetime) -> int:
    """The tier basis of ``at``'s calendar year (UTC) so far."""
    return tier_basis_cents(creator_id=creator_id, year=period_of(at).start.year, at=at)


@dataclass(frozen=True, slots=True)
class TierPosition:
    number: int
    creator_percent: str
    year_gross_cents: int
    to_next_cents: int | None  # None: top tier
    next_percent: str | None


def tier_position(*, terms: PolicyTerms, year_gross_cents: int) -> TierPosition:
    for number, tier in enumerate(terms.tiers, start=1):
        if tier.up_to_cents is None or year_gross_cents < tier.up_to_cents:
            following = terms.tiers[number] if number < len(terms.tiers) else None
            return TierPosition(
                number=number,
                creator_percent=f"{tier.creator_percent.normalize():f}",
                year_gross_cents=year_gross_cents,
                to_next_cents=(
                    None
                    if tier.up_to_cents is None
                    else tier.up_to_cents - year_gross_cents
                ),
                next_percent=(
                    f"{following.creator_percent.normalize():f}" if following else None
                ),
            )
    raise AssertionError("validate_tiers guarantees an open-ended last tier")


@dataclass(frozen=True, slots=True)
class EarningsOverview:
    sales: int
    refunds: int
    gross_cents: int
    earned_cents: int
    months: list[MonthEarnings]  # newest first
    held_cents: int  # carried past the current month by the cap
    tier: TierPosition
    monthly_cap_cents: int | None
    paid_cents: int
    due_cents: int  # payable in finished months, minus payouts
    recent_lines: list[EarningLine]


def earnings_overview(*, creator: User, at: datetime | None = None) -> EarningsOverview:
    at = at or timezone.now()
    lines = EarningLine.objects.filter(creator=creator)
    totals = lines.aggregate(
        gross=Sum("gross_cents"),
        earned=Sum("creator_cents"),
        sales=Count("sale", distinct=True, filter=Q(kind=EarningLine.Kind.SALE)),
        refunds=Count("sale", distinct=True, filter=Q(kind=EarningLine.Kind.REFUND)),
    )
    months = _statements(creator_ids=[creator.pk], at=at).get(creator.pk, [])
    this_month = period_of(at).start
    terms = policy_terms_at(at=at)
    paid = Payout.objects.filter(creator=creator).aggregate(t=Sum("amount_cents"))["t"]
    finished = sum(m.payable_cents for m in months if m.month < this_month)
    return EarningsOverview(
        sales=totals["sales"],
        refunds=totals["refunds"],
        gross_cents=totals["gross"] or 0,
        earned_cents=totals["earned"] or 0,
        months=months[::-1],
        held_cents=months[-1].carried_out_cents if months else 0,
        tier=tier_position(
            terms=terms,
            year_gross_cents=year_to_date_gross_cents(creator_id=creator.pk, at=at),
        ),
        monthly_cap_cents=terms.monthly_cap_cents,
        paid_cents=paid or 0,
        due_cents=finished - (paid or 0),
        recent_lines=list(
            lines.select_related("theme", "sale").order_by("-created_at", "-pk")[:20]
        ),
    )


@dataclass(frozen=True, slots=True)
class CreatorPayout:
    creator: User
    earned_cents: int
    payable_cents: int  # finished months
    held_cents: int
    paid_cents: int

    @property
    def due_cents(self) -> int:
        return self.payable_cents - self.paid_cents


def payouts_due(*, viewer: User, at: datetime | None = None) -> list[CreatorPayout]:
    """Every creator with earnings: what finished months owe them, minus payouts.

    Needs ``store.view_payouts`` (there is no system reader).
    """
    check_staff_power(actor=viewer, permission=VIEW_PAYOUTS)
    at = at or timezone.now()
    statements = _statements(creator_ids=None, at=at)
    this_month = period_of(at).start
    paid = dict(
        Payout.objects.values("creator_id")
        .annotate(total=Sum("amount_cents"))
        .values_list("creator_id", "total")
    )
    creators = User.objects.in_bulk(list(statements))
    rows = [
        CreatorPayout(
            creator=creators[creator_id],
            earned_cents=sum(m.earned_cents for m in months),
            payable_cents=sum(m.payable_cents for m in months if m.month < this_month),
            held_cents=months[-1].carried_out_cents,
            paid_cents=paid.get(creator_id, 0),
        )
        for creator_id, months in statements.items()
    ]
    return sorted(rows, key=lambda r: (-r.due_cents, r.creator.email))
