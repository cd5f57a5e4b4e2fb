"""Accessibility gates: token and rule contrast, links, focus, motion, tokens."""

from dataclasses import dataclass

from tinycss2.ast import Node

from ..colours import contrast_ratio, format_ratio
from . import contrast
from .results import ACCESSIBILITY, CheckResult, capped
from .sheet import Block, Sheet, css_text
from .tokens import TOKEN_PROPERTIES, token_page, token_pairs

TEXT_CONTRAST = 4.5
NON_TEXT_CONTRAST = 3.0  # focus indicator, large text (WCAG 1.4.3, 1.4.11)
LINK_VS_TEXT_CONTRAST = 3.0  # WCAG technique G183 for links without underline

_OUTLINE_REPLACEMENTS = ("box-shadow", "border", "background", "text-decoration")
_ANIMATION_PROPERTIES = {"animation", "animation-name", "transition"}


@dataclass(frozen=True, slots=True)
class ContrastSpec:
    """A token colour that must read on both backgrounds."""

    code: str
    title: str
    token: str
    minimum: float
    fix: str


TOKEN_CONTRAST = (
    ContrastSpec(
        code="contrast_text",
        title="Text contrast",
        token="text",
        minimum=TEXT_CONTRAST,
        fix="Darken the text colour (or lighten the backgrounds) until both "
        "pairs reach 4.5:1.",
    ),
    ContrastSpec(
        code="contrast_muted",
        title="Muted text contrast",
        token="muted",
        minimum=TEXT_CONTRAST,
        fix="Muted text is still text: move it closer to the text colour.",
    ),
    ContrastSpec(
        code="contrast_large_text",
        title="Large text and controls in the accent colour",
        token="accent",
        minimum=NON_TEXT_CONTRAST,
        fix="Headings, the brand mark and buttons use the accent colour: "
        "give it at least 3:1 against both backgrounds.",
    ),
    ContrastSpec(
        code="contrast_focus",
        title="Focus indicator contrast",
        token="focus",
        minimum=NON_TEXT_CONTRAST,
        fix="Pick a focus colour that stands out from both backgrounds.",
    ),
)


def accessibility_checks(sheet: Sheet, tokens: dict[str, str]) -> list[CheckResult]:
    measured = contrast.measure(sheet.blocks, page=token_page(tokens))
    return [
        *(_token_contrast_check(spec, tokens) for spec in TOKEN_CONTRAST),
        _link_check(sheet, tokens),
        _rule_contrast_check(measured),
        _colours_readable_check(measured),
        _focus_visible_check(sheet),
        _reduced_motion_check(sheet),
        _tokens_respected_check(sheet),
    ]


# What a rule does ------------------------------------------------------------


def _is_zero(value: str) -> bool:
    return value in ("0", "0px", "0em", "0rem", "0.0")


def _removes_outline(block: Block) -> bool:
    for declaration in block.declarations:
        value = css_text(declaration.value).strip().lower()
        name = declaration.lower_name
        if name == "outline" and (value.startswith("none") or _is_zero(value)):
            return True
        if name == "outline-style" and value == "none":
            return True
        if name == "outline-width" and _is_zero(value):
            return True
        if name == "outline-color" and value == "transparent":
            return True
    return False


def _has_focus_replacement(block: Block) -> bool:
    for declaration in block.declarations:
        value = css_text(declaration.value).strip().lower()
        if declaration.lower_name.startswith(_OUTLINE_REPLACEMENTS) and value not in (
            "none",
            "0",
            "transparent",
        ):
            return True
    return False


def _follows(previous: Node | None, marks: tuple[str, ...]) -> bool:
    return (
        previous is not None and previous.type == "literal" and previous.value in marks
    )


def _targets_links(prelude: list[Node]) -> bool:
    """True for ``a``, ``nav a:hover``, ``:link``, ``:any-link`` selectors."""
    previous: Node | None = None
    for node in prelude:
        if node.type == "ident":
            after_colon = _follows(previous, (":",))
            after_class = _follows(previous, (".", "|"))
            if node.lower_value == "a" and not (after_colon or after_class):
                return True
            if after_colon and node.lower_value in ("link", "any-link"):
                return True
        previous = node
    return False


def _removes_underline(block: Block) -> bool:
    values = block.values("text-decoration") + block.values("text-decoration-line")
    return any(v.split()[:1] == ["none"] for v in values if v)


def _animates(block: Block) -> list[str]:
    found = []
    for declaration in block.declarations:
        if declaration.lower_name in _ANIMATION_PROPERTIES:
            value = css_text(declaration.value).strip().lower()
            if value and value != "none" and not value.startswith(("none ", "0s")):
                found.append(declaration.lower_name)
    return found


def _within(block: Block, feature: str) -> bool:
    """Inside an at-rule whose prelude has ``feature`` (spaces ignored)."""
    return any(feature in c.lower().replace(" ", "") for c in block.conditions)


# The checks ------------------------------------------------------------------


def _token_contrast_check(spec: ContrastSpec, tokens: dict[str, str]) -> CheckResult:
    pairs = token_pairs(tokens, spec.token, ("bg", "surface"))
    worst_label, worst = min(pairs, key=lambda pair: pair[1])
    return CheckResult(
        code=spec.code,
        category=ACCESSIBILITY,
        title=spec.title,
        passed=all(ratio >= spec.minimum for _, ratio in pairs),
        measured=f"{format_ratio(worst)} ({worst_label})",
        threshold=f"at least {spec.minimum:g}:1",
        fix=spec.fix,
        details=[f"{label}: {format_ratio(ratio)}" for label, ratio in pairs],
    )


def _link_check(sheet: Sheet, tokens: dict[str, str]) -> CheckResult:
    """Links read as text (4.5:1) and stand out from body text.

    Underlined links are distinguishable by shape; a stylesheet that drops
    the underline must give 3:1 between link and body text (WCAG G183).
    """
    pairs = token_pairs(tokens, "accent", ("bg", "surface"))
    vs_text = contrast_ratio(tokens["accent"], tokens["text"])
    plain = [
        b for b in sheet.blocks if _targets_links(b.prelude) and _removes_underline(b)
    ]
    readable = all(ratio >= TEXT_CONTRAST for _, ratio in pairs)
    distinct = not plain or vs_text >= LINK_VS_TEXT_CONTRAST
    worst_label, worst = min(pairs, key=lambda pair: pair[1])
    return CheckResult(
        code="link_distinguishable",
        category=ACCESSIBILITY,
        title="Links readable and distinguishable",
        passed=readable and distinct,
        measured=(
            f"{format_ratio(worst)} ({worst_label}); "
            f"{format_ratio(vs_text)} against text, "
            + ("underline removed" if plain else "underlined")
        ),
        threshold="at least 4.5:1 on both backgrounds, and underlined or "
        "at least 3:1 against body text",
        fix="Darken the accent colour, or keep links underlined.",
        details=[
            f"line {b.line}: {b.selector} removes the underline" for b in plain[:20]
        ],
    )


def _rule_contrast_summary(
    pairs: list[contrast.ColourPair], failing: list[contrast.ColourPair]
) -> str:
    if not pairs:
        return "no rule sets a text or background colour"
    worst = min(pairs, key=lambda p: p.shortfall)
    lowest = f"lowest {format_ratio(worst.ratio)} ({worst.selector}, line {worst.line})"
    if failing:
        return f"{len(failing)} of {len(pairs)} colour pairs too faint, {lowest}"
    return f"{len(pairs)} colour pair(s), {lowest}"


def _rule_contrast_check(measured: contrast.Measured) -> CheckResult:
    """Every text/background pair the rules set, not only the tokens.

    A rule that sets only a background is measured with the text colour it
    inherits, since that is the text a buyer will read on it.
    """
    failing = sorted(
        (p for p in measured.pairs if not p.passed), key=lambda p: (p.line, p.ratio)
    )
    return CheckResult(
        code="contrast_rules",
        category=ACCESSIBILITY,
        title="Text contrast in every rule",
        passed=not failing,
        measured=_rule_contrast_summary(measured.pairs, failing),
        threshold=f"at least {TEXT_CONTRAST:g}:1 (large text, 24px or 18.66px "
        f"bold, {NON_TEXT_CONTRAST:g}:1), on the rule's own background, else "
        "the one it is nested in, else the page and card backgrounds",
        fix="Change the text colour or the background of each rule listed "
        "until the pair reaches the threshold. A rule that sets only a "
        "background is read with the text colour it inherits (your text "
        "colour unless an enclosing rule sets one): set color in that rule too.",
        details=capped([contrast.describe_pair(p) for p in failing]),
    )


def _colours_readable_check(measured: contrast.Measured) -> CheckResult:
    """A colour the gate cannot read could be unreadable: it fails, named."""
    unreadable = measured.unreadable
    return CheckResult(
        code="colours_readable",
        category=ACCESSIBILITY,
        title="Every colour can be measured",
        passed=not unreadable,
        measured=f"{len(unreadable)} colour value(s) cannot be measured"
        if unreadable
        else "all colours measured",
        threshold="none",
        fix="Write each text and background colour as #rrggbb, rgb(), hsl(), "
        "oklch() or a colour name, and define every custom property it uses "
        "in the stylesheet (or give var() a fallback). Contrast cannot be "
        "vouched for without reading the colour, so the theme cannot be listed.",
        details=capped([str(u) for u in unreadable]),
    )


def _focus_visible_check(sheet: Sheet) -> CheckResult:
    bare = [
        b for b in sheet.blocks if _removes_outline(b) and not _has_focus_replacement(b)
    ]
    return CheckResult(
        code="focus_visible",
        category=ACCESSIBILITY,
        title="Focus outlines kept",
        passed=not bare,
        measured=f"{len(bare)} rule(s) remove the outline without a replacement",
        threshold="none",
        fix="Keep the outline, or in the same rule give a visible "
        "replacement (box-shadow or border in the focus colour).",
        details=[f"line {b.line}: {b.selector}" for b in bare[:20]],
    )


def _switches_off_motion(block: Block) -> bool:
    """A rule under ``prefers-reduced-motion: reduce`` that sets motion."""
    return _within(block, "prefers-reduced-motion:reduce") and any(
        d.lower_name.startswith(("animation", "transition")) for d in block.declarations
    )


def _reduced_motion_check(sheet: Sheet) -> CheckResult:
    opted_out = any(_switches_off_motion(b) for b in sheet.blocks)
    moving = [
        b
        for b in sheet.blocks
        if _animates(b) and not _within(b, "prefers-reduced-motion:no-preference")
    ]
    return CheckResult(
        code="reduced_motion",
        category=ACCESSIBILITY,
        title="Animations respect reduced motion",
        passed=not moving or opted_out,
        measured=(
            f"{len(moving)} animated rule(s), switched off for reduce"
            if opted_out
            else f"{len(moving)} animated rule(s) outside prefers-reduced-motion"
        ),
        threshold="every animation inside @media (prefers-reduced-motion: "
        "no-preference), or switched off under reduce",
        fix="Wrap animations and transitions in "
        "@media (prefers-reduced-motion: no-preference) { … }.",
        details=(
            [] if opted_out else [f"line {b.line}: {b.selector}" for b in moving[:20]]
        ),
    )


def _tokens_respected_check(sheet: Sheet) -> CheckResult:
    overridden = sorted(
        {
            d.lower_name
            for b in sheet.blocks
            for d in b.declarations
            if d.lower_name in TOKEN_PROPERTIES
        }
    )
    return CheckResult(
        code="tokens_respected",
        category=ACCESSIBILITY,
        title="Design tokens set only through the form",
        passed=not overridden,
        measured=", ".join(overridden) if overridden else "none overridden",
        threshold="the stylesheet does not redefine the token properties",
        fix="Set background, surface, text, muted, accent and focus in the "
        "token fields: their contrast is what is checked.",
    )
