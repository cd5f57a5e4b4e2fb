"""WCAG 2.1 colour maths: relative luminance and contrast ratio.

Pure functions on ``#rgb`` / ``#rrggbb`` strings, so the checks, the forms
and the tests share one definition of "4.5:1"; ``read_colour`` turns any
colour a stylesheet may write into such a colour first.
"""

from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from tinycss2.ast import Node
from tinycss2.color4 import Color, parse_color

HEX_DIGITS = set("0123456789abcdef")


def parse_hex(colour: str) -> tuple[int, int, int]:
    """``#1d4ed8`` or ``#fff`` -> (r, g, b); ValueError on anything else."""
    text = colour.strip().lower()
    if not text.startswith("#") or len(text) not in (4, 7):
        raise ValueError(f"{colour!r} is not a #rgb or #rrggbb colour.")
    digits = text[1:]
    if not set(digits) <= HEX_DIGITS:
        raise ValueError(f"{colour!r} is not a #rgb or #rrggbb colour.")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def normalise_hex(colour: str) -> str:
    r, g, b = parse_hex(colour)
    return f"#{r:02x}{g:02x}{b:02x}"


def _channel(value: int) -> float:
    # WCAG 2.1 "relative luminance": sRGB companding; 0.04045 is the sRGB
    # standard's threshold (WCAG's 0.03928 gives the same result for 8-bit).
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: str) -> float:
    r, g, b = parse_hex(colour)
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(first: str, second: str) -> float:
    """(L1 + 0.05) / (L2 + 0.05) with L1 the lighter: 1.0 to 21.0."""
    a, b = relative_luminance(first), relative_luminance(second)
    lighter, darker = max(a, b), min(a, b)
    return (lighter + 0.05) / (darker + 0.05)


def format_ratio(ratio: float) -> str:
    """Shown rounded down to 2 places, so 4.499 never reads as a pass."""
    shown = Decimal(str(ratio)).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    return f"{shown}:1"


def readable_on(background: str) -> str:
    """White or black, whichever reads better on ``background`` (button labels)."""
    white = contrast_ratio("#ffffff", background)
    black = contrast_ratio("#000000", background)
    return "#ffffff" if white >= black else "#000000"


# Any CSS colour -> sRGB ------------------------------------------------------
#
# Creators write colours in every form CSS allows. tinycss2 reads them (CSS
# Color 4: hex of 3/4/6/8 digits, rgb()/hsl()/hwb() in comma or space
# syntax, lab()/lch()/oklab()/oklch(), color(), names); the code below turns
# the result into the 8-bit sRGB a browser paints on an sRGB screen.

# CSS Color 4, "Sample code for color conversions".
_XYZ_D65_TO_LINEAR_SRGB = (
    (3.2409699419045226, -1.5373831775700939, -0.4986107602930034),
    (-0.9692436362808796, 1.8759675015077202, 0.04155505740717559),
    (0.05563007969699366, -0.20397695888897652, 1.0569715142428786),
)
_XYZ_D50_TO_D65 = (  # Bradford chromatic adaptation
    (0.955473421488075, -0.02309845494876471, 0.06325924320057072),
    (-0.0283697093338637, 1.0099953980813041, 0.021041441191917323),
    (0.012314014864481998, -0.020507649298898964, 1.330365926242124),
)
_TO_XYZ_D65 = {"xyz-d65": "xyz-d65", "xyz-d50": "xyz-d50", "oklab": "xyz-d65"}
_TO_XYZ_D65 |= {"oklch": "xyz-d65", "lab": "xyz-d50", "lch": "xyz-d50"}


@dataclass(frozen=True, slots=True)
class Rgba:
    """An sRGB colour, channels 0-255 (rounded as painted), alpha 0-1."""

    red: int
    green: int
    blue: int
    alpha: float = 1.0

    @property
    def hex(self) -> str:
        return f"#{self.red:02x}{self.green:02x}{self.blue:02x}"

    @property
    def opaque(self) -> bool:
        return self.alpha >= 1.0


def from_hex(colour: str) -> Rgba:
    return Rgba(*parse_hex(colour))


@cache
def _luminance(red: int, green: int, blue: int) -> float:
    return 0.2126 * _channel(red) + 0.7152 * _channel(green) + 0.0722 * _channel(blue)


def ratio_between(first: Rgba, second: Rgba) -> float:
    """contrast_ratio for opaque Rgba colours (alpha is ignored: blend first)."""
    a = _luminance(first.red, first.green, first.blue)
    b = _luminance(second.red, second.green, second.blue)
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


class UnreadableColour(ValueError):
    """A value that is not a colour the checks can measure; says why."""


def _matrix(m: tuple[tuple[float, ...], ...], v: tuple[float, ...]) -> list[float]:
    return [sum(row[i] * v[i] for i in range(3)) for row in m]


def _encode(linear: float) -> float:
    """Linear light -> sRGB transfer curve (sign kept for out-of-gamut values)."""
    sign, magnitude = (-1 if linear < 0 else 1), abs(linear)
    if magnitude <= 0.0031308:
        return linear * 12.92
    return sign * (1.055 * magnitude ** (1 / 2.4) - 0.055)


def _srgb_channels(colour: Color) -> list[float]:
    space = colour.space
    if space == "srgb":
        return [c or 0.0 for c in colour.coordinates]
    if space in ("hsl", "hwb"):
        return list(colour.to("srgb").coordinates)
    if space == "srgb-linear":
        return [_encode(c or 0.0) for c in colour.coordinates]
    if space in _TO_XYZ_D65:
        xyz = colour.to(_TO_XYZ_D65[space]).coordinates
        if _TO_XYZ_D65[space] == "xyz-d50":
            xyz = tuple(_matrix(_XYZ_D50_TO_D65, xyz))
        return [_encode(c) for c in _matrix(_XYZ_D65_TO_LINEAR_SRGB, xyz)]
    raise UnreadableColour(
        f"the {space} colour space is not measured: write the colour in sRGB "
        "(#rrggbb, rgb(), hsl() or oklch())"
    )


def read_colour(node: Node) -> Rgba | None:
    """One component value as painted in sRGB; None for ``currentcolor``.

    Out-of-gamut colours are clipped, as an sRGB screen shows them. Raises
    UnreadableColour for anything else, with a reason a creator can act on.
    """
    parsed = parse_color(node)
    if parsed == "currentcolor":
        return None
    if not isinstance(parsed, Color):
        raise UnreadableColour(_why_unreadable(node))
    red, green, blue = (
        round(min(1.0, max(0.0, c)) * 255) for c in _srgb_channels(parsed)
    )
    return Rgba(red, green, blue, alpha=parsed.alpha)


_SYSTEM_COLOURS = frozenset(
    {
        *("canvas", "canvastext", "linktext", "visitedtext", "activetext"),
        *("buttonface", "buttontext", "buttonborder", "field", "fieldtext"),
        *("highlight", "highlighttext", "selecteditem", "selecteditemtext"),
        *("mark", "marktext", "graytext", "accentcolor", "accentcolortext"),
    }
)


_COLOUR_FUNCTIONS = frozenset(
    {"rgb", "rgba", "hsl", "hsla", "hwb", "lab", "lch", "oklab", "oklch", "color"}
)


def _why_unreadable(node: Node) -> str:
    if node.type == "ident" and node.lower_value in _SYSTEM_COLOURS:
        return "a system colour, which each browser and user picks"
    if node.type == "function":
        name = node.lower_name
        if name in _COLOUR_FUNCTIONS:
            return f"{name}() with values the check cannot read"
        return f"{name}() is not measured"
    if node.type == "hash":
        return "not a colour: a hex colour has 3, 4, 6 or 8 digits 0-9 and a-f"
    return "not a colour"


def composite(top: Rgba, bottom: Rgba) -> Rgba:
    """``top`` painted over ``bottom`` (source-over, as browsers blend in sRGB)."""
    if top.opaque:
        return top
    alpha = top.alpha + bottom.alpha * (1 - top.alpha)
    if alpha == 0:
        return Rgba(0, 0, 0, 0.0)

    def blend(a: int, b: int) -> int:
        mixed = a * top.alpha + b * bottom.alpha * (1 - top.alpha)
        return round(mixed / alpha)

    return Rgba(
        blend(top.red, bottom.red),
        blend(top.green, bottom.green),
        blend(top.blue, bottom.blue),
        alpha=alpha,
    )
