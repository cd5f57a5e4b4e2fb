"""Submit, edit and review themes.

Every content change re-runs the checks: a theme whose checks all pass goes
to review, any failure sends it back to the creator with the report. Only
the price can change without review, since buyers see everything else.
Approval freezes the stylesheet that licence holders are served.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing.errors import PermissionDenied
from billing.models import AuditEntry
from billing.permissions import REVIEW_THEME, check_staff_power
from billing.services.audit import record_audit

from ..checks import TOKENS, all_passed, run_checks
from ..colours import normalise_hex, readable_on
from ..errors import InvalidTheme, NotReviewable
from ..models import Theme, ThemeImage

MAX_PRICE_CENTS = 100_000  # $1,000
# Leading bytes of the image formats a preview may use.
IMAGE_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # refused outright; the check reports above 300 KB
# Refused before the checks parse it: parsing costs CPU in proportion to the
# size (about 6 s a megabyte), and the performance budget is 50 KB minified,
# so a sheet twice that is only a way to tie up a worker.
MAX_STYLESHEET_BYTES = 100 * 1024


@dataclass(frozen=True, slots=True)
class ImageUpload:
    data: bytes
    alt: str = ""


@dataclass(frozen=True, slots=True)
class ThemeContent:
    name: str
    description: str
    price_cents: int
    css: str
    tokens: dict[str, str]


def sniff_image_type(data: bytes) -> str | None:
    for signature, content_type in IMAGE_SIGNATURES.items():
        if data.startswith(signature):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _validate(content: ThemeContent, images: Sequence[ImageUpload]) -> ThemeContent:
    """Normalise the fields; InvalidTheme lists every bad one at once."""
    errors: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for name, label in TOKENS.items():
        try:
            tokens[name] = normalise_hex(content.tokens.get(name, ""))
        except ValueError:
            errors[name] = f"{label}: give a colour as #rrggbb."
    if not content.name.strip():
        errors["name"] = "Give the theme a name."
    if not (0 <= content.price_cents <= MAX_PRICE_CENTS):
        errors["price"] = "The price is from $0.00 (free) to $1,000.00."
    if not content.css.strip():
        errors["css"] = "Paste or upload a stylesheet."
    elif len(content.css.encode()) > MAX_STYLESHEET_BYTES:
        errors["css"] = (
            f"A stylesheet may be at most {MAX_STYLESHEET_BYTES // 1024} KB "
            "(the performance budget is 50 KB minified)."
        )
    for image in images:
        if sniff_image_type(image.data) is None:
            errors["images"] = "Preview images must be PNG, JPEG, GIF or WebP files."
        elif len(image.data) > MAX_UPLOAD_BYTES:
            errors["images"] = "A preview image may be at most 2 MB to upload."
    if errors:
        raise InvalidTheme("The theme has invalid fields.", details=errors)
    return ThemeContent(
        name=content.name.strip()[:80],
        description=content.description.strip(),
        price_cents=content.price_cents,
        css=content.css,
        tokens=tokens,
    )


def _add_images(theme: Theme, images: Sequence[ImageUpload]) -> None:
    ThemeImage.objects.bulk_create(
        [
            ThemeImage(
                theme=theme,
                content_type=sniff_image_type(image.data) or "",
                data=image.data,
                size_bytes=len(image.data),
                alt=image.alt[:150],
            )
            for image in images
        ]
    )


def _check(theme: Theme) -> None:
    """Run the gates on the current content and move the theme accordingly."""
    sizes = list(theme.images.values_list("size_bytes", flat=True))
    report = run_checks(css=theme.css, tokens=theme.tokens, image_sizes=sizes)
    theme.check_report = [result.as_dict() for result in report]
    theme.checked_at = timezone.now()
    theme.status = (
        Theme.Status.IN_REVIEW if all_passed(report) else Theme.Status.CHANGES_NEEDED
    )
    theme.review_note = ""


def submit_theme(
    *,
    actor: User,
    content: ThemeContent,
    images: Sequence[ImageUpload] = (),
) -> Theme:
    """Create a theme and check it: it reaches review only if every check passes."""
    content = _validate(content, images)
    with transaction.atomic():
        theme = Theme.objects.create(
            creator=actor,
            name=content.name,
            description=content.description,
            price_cents=content.price_cents,
            css=content.css,
            tokens=content.tokens,
        )
        _add_images(theme, images)
        _check(theme)
        theme.save()
    return theme


def update_theme(
    *,
    theme: Theme,
    actor: User,
    content: ThemeContent,
    add_images: Sequence[ImageUpload] = (),
    remove_image_ids: Sequence[int] = (),
) -> Theme:
    """Save the creator's edit; anything but a price change goes back through review.

    The theme row is locked so an edit and a staff decision cannot interleave.
    """
    if actor.pk != theme.creator_id:
        raise PermissionDenied("Only the theme's creator can edit it.")
    content = _validate(content, add_images)
    with transaction.atomic():
        theme = Theme.objects.select_for_update().get(pk=theme.pk)
        changed = (
            content.name != theme.name
            or content.description != theme.description
            or content.css != theme.css
            or content.tokens != theme.tokens
            or bool(add_images)
        )
        removed = theme.images.filter(pk__in=list(remove_image_ids)).delete()[0]
        theme.name = content.name
        theme.description = content.description
        theme.price_cents = content.price_cents
        theme.css = content.css
        theme.tokens = content.tokens
        theme.updated_at = timezone.now()
        _add_images(theme, add_images)
        if changed or removed or theme.status != Theme.Status.APPROVED:
            _check(theme)
        theme.save()
    return theme


def build_stylesheet(*, theme: Theme) -> str:
    """The served CSS: the tokens as app.css custom properties, then the theme's CSS."""
    tokens = theme.tokens
    declarations = [f"--{name}: {tokens[name]};" for name in TOKENS]
    declarations.append(f"--accent-text: {readable_on(tokens['accent'])};")
    head = ":root {\n  " + "\n  ".join(declarations) + "\n}\n"
    return f"/* Meterly store theme {theme.pk} */\n{head}{theme.css}\n"


def _review_record(theme: Theme) -> dict[str, object]:
    return {
        "status": theme.status,
        "price_cents": theme.price_cents,
        "published_at": theme.published_at,
        "review_note": theme.review_note,
    }


def approve_theme(*, theme: Theme, actor: User | None) -> Theme:
    """List a theme in review; its stylesheet as checked becomes what buyers get.

    Needs ``store.review_theme``; the system passes None explicitly.
    """
    check_staff_power(actor=actor, permission=REVIEW_THEME, allow_system=True)
    with transaction.atomic():
        theme = Theme.objects.select_for_update().get(pk=theme.pk)
        if theme.status != Theme.Status.IN_REVIEW:
            raise NotReviewable(f"{theme.name} is not in review.")
        if not theme.checks_passed:  # in_review implies it; keep the gate explicit
            raise NotReviewable(f"{theme.name} has failing checks.")
        before = _review_record(theme)
        now = timezone.now()
        theme.status = Theme.Status.APPROVED
        theme.published_stylesheet = build_stylesheet(theme=theme)
        theme.published_at = now
        theme.reviewed_by = actor if getattr(actor, "pk", None) else None
        theme.reviewed_at = now
        theme.review_note = ""
        theme.save()
        record_audit(
            action=AuditEntry.Action.THEME_APPROVED,
            actor=actor,
            target=theme,
            at=now,
            before=before,
            after=_review_record(theme),
        )
    return theme


def reject_theme(*, theme: Theme, actor: User | None, reason: str) -> Theme:
    """Turn down a theme in review, or delist a listed one; the creator sees why.

    Needs ``store.review_theme``; the system passes None explicitly.
    """
    check_staff_power(actor=actor, permission=REVIEW_THEME, allow_system=True)
    if not reason.strip():
        raise InvalidTheme("Say why: the creator sees the reason.")
    with transaction.atomic():
        theme = Theme.objects.select_for_update().get(pk=theme.pk)
        if theme.status not in (Theme.Status.IN_REVIEW, Theme.Status.APPROVED):
            raise NotReviewable(f"{theme.name} is neither in review nor listed.")
        before = _review_record(theme)
        now = timezone.now()
        theme.status = Theme.Status.REJECTED
        theme.review_note = reason.strip()[:500]
        theme.reviewed_by = actor if getattr(actor, "pk", None) else None
        theme.reviewed_at = now
        theme.save()
        record_audit(
            action=AuditEntry.Action.THEME_REJECTED,
            actor=actor,
            target=theme,
            at=now,
            before=before,
            after=_review_record(theme),
            reason=theme.review_note,
        )
    return theme
