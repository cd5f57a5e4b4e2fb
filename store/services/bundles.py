"""Staff compose bundles: price, sale window and themes, each change on record.

The admin saves and deletes through these services (``save_on_record``),
so a bundle's price, window or themes never change without an audit entry
holding the values they replaced. A bundle that has sold is never deleted
(its sales point at it): end its sale window instead.
"""

from collections.abc import Callable, Sequence

from accounts.models import User
from billing.errors import InvalidRequest
from billing.models import AuditEntry
from billing.services.audit import Record, delete_on_record, save_on_record

from ..models import Bundle, Theme
from ..selectors import list_sellable_themes

BUNDLE_FIELDS = (
    "name",
    "description",
    "price_cents",
    "available_from",
    "available_until",
    "licence_days",
)


def _themes_record(bundle: Bundle) -> Record:
    return {"themes": sorted(bundle.themes.values_list("pk", flat=True))}


def _themes_saver(bundle: Bundle, themes: Sequence[Theme]) -> Callable[[], None]:
    """Set the themes once the bundle is saved (a new one has no pk before)."""

    def save_themes() -> None:
        bundle.themes.set(themes)

    return save_themes


def save_bundle(
    *,
    bundle: Bundle,
    actor: User,
    themes: Sequence[Theme] | None = None,
    reason: str = "",
) -> Bundle:
    """Save a bundle and, when given, exactly these themes, on record.

    Only listed themes are sold in a bundle. Needs ``store.add_bundle`` or
    ``store.change_bundle``.
    """
    if themes is not None:
        listed = set(
            list_sellable_themes()
            .filter(pk__in=[t.pk for t in themes])
            .values_list("pk", flat=True)
        )
        unlisted = [t.name for t in themes if t.pk not in listed]
        if unlisted:
            raise InvalidRequest(
                f"Only listed themes go in a bundle: {', '.join(unlisted)} is not."
            )

    save_on_record(
        obj=bundle,
        fields=BUNDLE_FIELDS,
        actor=actor,
        actions=(AuditEntry.Action.BUNDLE_CREATED, AuditEntry.Action.BUNDLE_CHANGED),
        save_related=None if themes is None else _themes_saver(bundle, themes),
        related_of=_themes_record,
        reason=reason,
    )
    return bundle


def _unsold(bundle: Bundle) -> None:
    if bundle.sales.exists():
        raise InvalidRequest(
            f"{bundle.name} has sales, so it stays: end its sale window instead."
        )


def delete_bundle(*, bundle: Bundle, actor: User, reason: str = "") -> None:
    """Delete a bundle that never sold, recording what it was.

    Needs ``store.delete_bundle``.
    """
    delete_on_record(
        obj=bundle,
        fields=BUNDLE_FIELDS,
        actor=actor,
        action=AuditEntry.Action.BUNDLE_DELETED,
        related_of=_themes_record,
        guard=_unsold,
        reason=reason,
    )
