"""Reads for the store: listings, access, licences and bundles.

Buying lives in ``purchases``, creators' earnings in ``earnings``.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AnonymousUser
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.utils import timezone

from accounts.models import User
from billing.errors import NotFound
from billing.permissions import REVIEW_THEME, holds_staff_power

from ..models import (
    AppliedTheme,
    Bundle,
    Licence,
    Sale,
    Theme,
    ThemeImage,
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


def _sees_unlisted(user: User | AnonymousUser, theme: Theme) -> bool:
    """Its creator, and staff who review themes, see a theme before it is listed."""
    if user.pk == theme.creator_id:
        return True
    return isinstance(user, User) and holds_staff_power(
        actor=user, permission=REVIEW_THEME
    )


def get_theme_for_viewer(*, user: User | AnonymousUser, theme_id: int) -> Theme:
    """Listed themes for everyone; unlisted ones for their creator and reviewers."""
    theme = Theme.objects.select_related("creator").filter(pk=theme_id).first()
    if theme is None or not (theme.is_listed or _sees_unlisted(user, theme)):
        raise NotFound("No such theme.")
    return theme


def get_theme(*, theme_id: int) -> Theme:
    """Any theme by id; the service it is passed to decides what may be done."""
    theme = Theme.objects.filter(pk=theme_id).first()
    if theme is None:
        raise NotFound("No such theme.")
    return theme


def get_theme_draft(*, user: User | AnonymousUser, theme_id: int) -> Theme:
    """The latest, possibly unchecked edit: for its creator and reviewers only."""
    theme = Theme.objects.filter(pk=theme_id).first()
    if theme is None or not _sees_unlisted(user, theme):
        raise NotFound("No such theme.")
    return theme


def get_theme_for_creator(*, user: User, theme_id: int) -> Theme:
    theme = Theme.objects.filter(pk=theme_id, creator_id=user.pk)
    found = theme.prefetch_related("images").first()
    if found is None:
        raise NotFound("No such theme among yours.")
    return found


def list_creator_themes(*, user: User) -> QuerySet[Theme]:
    return Theme.objects.filter(creator_id=user.pk).order_by("-updated_at", "-pk")


def list_theme_images(*, theme: Theme) -> QuerySet[ThemeImage]:
    """The theme's preview images without their bytes (served one by one)."""
    return theme.images.only("pk", "alt", "theme_id")


def get_theme_image(*, theme: Theme, image_id: int) -> ThemeImage:
    """One preview image of a theme the viewer may already see."""
    image = ThemeImage.objects.filter(theme=theme, pk=image_id).first()
    if image is None:
        raise NotFound("No such image.")
    return image


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


@dataclass(frozen=True, slots=True)
class ThemeAccess:
    is_creator: bool
    licence: Licence | None  # the live licence, if any
    owns_perpetual: bool
    applied: bool


def theme_access(
    *, user: User, theme: Theme, at: datetime | None = None
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


def list_owned_themes(*, user: User, at: datetime | None = None) -> list[OwnedTheme]:
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


def active_theme_stylesheet(*, user: User) -> tuple[int, datetime] | None:
    """(theme id, version) of the applied theme while a licence for it is live.

    One query: the applied row, joined to its theme, filtered by a live
    licence. An expired licence simply stops matching: the default theme.
    """
    now = timezone.now()
    live = Licence.objects.active_at(now).filter(
        account__user_id=OuterRef("user_id"), theme_id=OuterRef("theme_id")
    )
    row = (
        AppliedTheme.objects.filter(
            Exists(live), user_id=user.pk, theme__published_at__isnull=False
        )
        .values_list("theme_id", "theme__published_at")
        .first()
    )
    if row is None:
        return None
    theme_id, version = row
    return None if version is None else (theme_id, version)


def active_theme_stylesheet_url(*, user: User) -> str | None:
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


def bundle_bought(*, user: User, bundle: Bundle) -> bool:
    return Sale.objects.filter(
        account__user_id=user.pk, bundle=bundle, status=Sale.Status.COMPLETED
    ).exists()
