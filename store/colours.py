"""WCAG 2.1 colour maths: relative luminance and contrast ratio.

Pure functions on ``#rgb`` / ``#rrggbb`` strings, so the checks, the forms
and the tests share one definition of "4.5:1".
"""

from decimal import Decimal

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
