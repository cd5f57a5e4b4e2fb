"""The design tokens a theme sets through its form, and what the app paints."""

from collections.abc import Sequence

from ..colours import contrast_ratio, from_hex, readable_on
from .contrast import Page, Shade

# Design tokens: form field -> CSS custom property of static/css/app.css.
TOKENS = {
    "bg": "Background",
    "surface": "Surface (cards)",
    "text": "Text",
    "muted": "Muted text",
    "accent": "Accent and links",
    "focus": "Focus indicator",
}
TOKEN_PROPERTIES = {f"--{name}" for name in TOKENS} | {"--accent-text"}
# Status colours of static/css/app.css that themes may restyle: badges,
# messages and notices paint --x text on --x-bg, so the pair is checked.
STATUS_COLOURS = {
    "ok": ("#166534", "#dcfce7"),
    "warning": ("#854d0e", "#fef3c7"),
    "exceeded": ("#9a3412", "#ffedd5"),
    "overage": ("#6b21a8", "#f3e8ff"),
    "blocked": ("#991b1b", "#fee2e2"),
}


def token_pairs(
    tokens: dict[str, str], fg: str, backgrounds: Sequence[str]
) -> list[tuple[str, float]]:
    """(label, contrast ratio) of token ``fg`` on each background token."""
    return [
        (
            f"{TOKENS[fg].lower()} on {TOKENS[bg].lower()}",
            contrast_ratio(tokens[fg], tokens[bg]),
        )
        for bg in backgrounds
    ]


def token_page(tokens: dict[str, str]) -> Page:
    """What every rule sits on: the page and card backgrounds, the text colour."""

    def shade(name: str) -> Shade:
        colour = tokens[name]
        return Shade(from_hex(colour), f"your {TOKENS[name]} colour {colour}")

    properties = {f"--{name}": tokens[name] for name in TOKENS}
    properties["--accent-text"] = readable_on(tokens["accent"])
    for name, (text, background) in STATUS_COLOURS.items():
        properties[f"--{name}"] = text
        properties[f"--{name}-bg"] = background
    return Page(
        backgrounds=[shade("bg"), shade("surface")],
        texts=[shade("text")],
        properties=properties,
        property_pairs=[(f"--{name}", f"--{name}-bg") for name in STATUS_COLOURS],
    )
