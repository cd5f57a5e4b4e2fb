"""Colours as the creator wrote them, the pairs measured, and what was not read.

Every shade keeps its label and the rule it comes from, so a failing pair
is reported in the creator's own words.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..colours import Rgba, format_ratio
from .sheet import Block

TEXT_MINIMUM = 4.5
LARGE_TEXT_MINIMUM = 3.0  # WCAG 1.4.3: 24px, or 18.66px (14pt) bold
_SELECTOR_CHARS = 60


@dataclass(frozen=True, slots=True)
class Shade:
    """A colour as the creator wrote it, and where it comes from."""

    colour: Rgba
    label: str  # "#9a9a9a", "var(--ink) = #333", "your Text colour #1b1f24"
    origin: str | None = None  # "where" of the rule that sets it; None: tokens
    blended: bool = False  # painted over something: show what it shows as


@dataclass(frozen=True, slots=True)
class Page:
    """What the app paints under every rule: the token colours by role."""

    backgrounds: Sequence[Shade]
    texts: Sequence[Shade]
    properties: dict[str, str]  # custom properties the app defines
    # (text, background) custom properties the app paints together, such as
    # its status badges: checked when the stylesheet sets either.
    property_pairs: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True, slots=True)
class ColourPair:
    line: int
    selector: str
    text: str
    background: str
    ratio: float
    minimum: float

    @property
    def passed(self) -> bool:
        return self.ratio >= self.minimum

    @property
    def shortfall(self) -> float:
        return self.ratio / self.minimum


@dataclass(frozen=True, slots=True)
class Unreadable:
    line: int
    selector: str
    declaration: str  # "color: grren"
    reason: str

    def __str__(self) -> str:
        where = self.selector
        if self.declaration:
            where += f" {{ {self.declaration} }}"
        return f"line {self.line}: {where}: {self.reason}"


@dataclass(slots=True)
class Measured:
    pairs: list[ColourPair] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)


def describe_pair(pair: ColourPair) -> str:
    large = " (large text)" if pair.minimum == LARGE_TEXT_MINIMUM else ""
    return (
        f"line {pair.line}: {pair.selector}: text {pair.text} on {pair.background}: "
        f"{format_ratio(pair.ratio)}, needs {pair.minimum:g}:1{large}"
    )


def block_name(block: Block) -> str:
    """The rule's selector, shortened, and the rules it is nested in."""
    selector = block.selector
    if len(selector) > _SELECTOR_CHARS:
        selector = selector[: _SELECTOR_CHARS - 1] + "…"
    if block.parent:
        return f"{selector} inside {block_name(block.parent)}"
    return selector


def block_where(block: Block) -> str:
    return f"{block_name(block)}, line {block.line}"


def describe(shade: Shade, where: str | None, *, shown: bool = True) -> str:
    """The shade in the creator's words, naming the rule it comes from."""
    text = shade.label
    if shade.origin is not None and shade.origin != where:
        text += f" (from {shade.origin})"
    if shown and shade.blended:
        text += f" (shows as {shade.colour.hex})"
    return text
