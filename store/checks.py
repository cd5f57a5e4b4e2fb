"""The automated gates a theme passes before review: performance and accessibility.

Pure functions, no database. The stylesheet is parsed with tinycss2 (never
regular expressions), walked once into a ``Sheet`` summary, and every check
reads that summary and the design tokens. URLs and @import are found on the
whole token tree by ``css_urls``, whatever rules they sit in; the colour
pairs the rules set are found and measured by ``contrast``. Each check
reports the measured value, the threshold and how to fix a failure, so the
creator's report is readable check by check.
"""

import gzip
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import tinycss2
from tinycss2.ast import Node
from tinycss2.serializer import serialize_identifier

from . import contrast, css_urls
from .colours import contrast_ratio, format_ratio, from_hex, readable_on

KB = 1024
MAX_MINIFIED_BYTES = 50 * KB
MAX_GZIPPED_BYTES = 15 * KB
MAX_RULES = 500
MAX_SELECTORS = 1000
MAX_IMAGE_BYTES = 300 * KB
MAX_IMAGES = 4
TEXT_CONTRAST = 4.5
NON_TEXT_CONTRAST = 3.0  # focus indicator, large text (WCAG 1.4.3, 1.4.11)
LINK_VS_TEXT_CONTRAST = 3.0  # WCAG technique G183 for links without underline
MAX_NESTING = 64  # blocks and functions; the walks below recurse per level

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

PERFORMANCE = "performance"
ACCESSIBILITY = "accessibility"

_GROUPING_AT_RULES = {"media", "supports", "layer", "container", "scope"}
_OUTLINE_REPLACEMENTS = ("box-shadow", "border", "background", "text-decoration")
_ANIMATION_PROPERTIES = {"animation", "animation-name", "transition"}


@dataclass(frozen=True, slots=True)
class CheckResult:
    code: str
    category: str
    title: str
    passed: bool
    measured: str
    threshold: str
    fix: str
    details: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Block:
    """One declaration block with where it sits."""

    selector: str
    prelude: list[Node]
    conditions: tuple[str, ...]  # enclosing at-rule preludes, e.g. "@media (...)"
    declarations: list[Any]
    line: int
    parent: "Block | None" = None  # the rule it is nested in (CSS nesting)

    def values(self, name: str) -> list[str]:
        return [
            _text(d.value).lower() for d in self.declarations if d.lower_name == name
        ]


@dataclass(slots=True)
class Sheet:
    rules: int = 0
    selectors: int = 0
    blocks: list[Block] = field(default_factory=list)
    imports: list[int] = field(default_factory=list)  # source lines
    urls: list[css_urls.UrlFinding] = field(default_factory=list)  # all refused
    errors: list[str] = field(default_factory=list)
    minified: str = ""


# Parsing -------------------------------------------------------------------


def _text(nodes: Iterable[Node]) -> str:
    """Serialise tokens without comments, whitespace collapsed (a minifier)."""
    parts: list[str] = []
    for node in nodes:
        kind = node.type
        if kind == "comment":
            continue
        if kind == "whitespace":
            if parts and parts[-1] != " ":
                parts.append(" ")
        elif kind in ("() block", "[] block", "{} block"):
            opening = kind[0]
            closing = kind[1]
            parts.append(f"{opening}{_text(node.content).strip()}{closing}")
        elif kind == "function":
            inner = _text(node.arguments).strip()
            parts.append(f"{serialize_identifier(node.name)}({inner})")
        else:
            parts.append(node.serialize())
    return "".join(parts)


def _split_selectors(prelude: list[Node]) -> list[list[Node]]:
    groups: list[list[Node]] = [[]]
    for node in prelude:
        if node.type == "literal" and node.value == ",":
            groups.append([])
        else:
            groups[-1].append(node)
    return [
        g for g in groups if any(n.type not in ("whitespace", "comment") for n in g)
    ]


def _error(node: Node) -> str:
    return f"line {node.source_line}, column {node.source_column}: {node.message}"


def _declarations(content: list[Node], sheet: Sheet) -> tuple[list[Any], list[Node]]:
    """Declarations of a block, and nested rules (CSS nesting) to walk."""
    declarations, nested = [], []
    for item in tinycss2.parse_blocks_contents(
        content, skip_comments=True, skip_whitespace=True
    ):
        if item.type == "declaration":
            if not _text(item.value).strip():
                sheet.errors.append(
                    f"line {item.source_line}, column {item.source_column}: "
                    f"{item.name} has no value"
                )
                continue
            declarations.append(item)
        elif item.type == "error":
            sheet.errors.append(_error(item))
        else:
            nested.append(item)
    return declarations, nested


def _walk(
    nodes: Iterable[Node],
    sheet: Sheet,
    conditions: tuple[str, ...] = (),
    in_keyframes: bool = False,
    parent: Block | None = None,
) -> list[str]:
    """Fill ``sheet`` from rules; return their minified text."""
    out: list[str] = []
    for node in nodes:
        if node.type == "error":
            sheet.errors.append(_error(node))
        elif node.type == "qualified-rule":
            selector = _text(node.prelude).strip()
            declarations, nested = _declarations(node.content, sheet)
            block = Block(
                selector=selector,
                prelude=list(node.prelude),
                conditions=conditions,
                declarations=declarations,
                line=node.source_line,
                parent=parent,
            )
            if not in_keyframes:
                sheet.rules += 1
                sheet.selectors += len(_split_selectors(node.prelude))
                sheet.blocks.append(block)
            body = ";".join(f"{d.name}:{_text(d.value).strip()}" for d in declarations)
            inner = "".join(_walk(nested, sheet, conditions, in_keyframes, block))
            out.append(f"{selector}{{{body}{inner}}}")
        elif node.type == "at-rule":
            keyword = node.lower_at_keyword
            prelude = _text(node.prelude).strip()
            head = f"@{keyword} {prelude}".strip()
            if node.content is None:
                out.append(f"{head};")
                continue
            if keyword in _GROUPING_AT_RULES or keyword.endswith("keyframes"):
                rules = tinycss2.parse_rule_list(
                    node.content, skip_comments=True, skip_whitespace=True
                )
                inner = "".join(
                    _walk(
                        rules,
                        sheet,
                        (*conditions, head),
                        in_keyframes or keyword.endswith("keyframes"),
                        parent,
                    )
                )
            else:  # @font-face, @page, @property: a declaration block
                declarations, _ = _declarations(node.content, sheet)
                sheet.blocks.append(
                    Block(
                        selector=f"@{keyword}",
                        prelude=[],
                        conditions=conditions,
                        declarations=declarations,
                        line=node.source_line,
                    )
                )
                inner = ";".join(
                    f"{d.name}:{_text(d.value).strip()}" for d in declarations
                )
            out.append(f"{head}{{{inner}}}")
    return out


def parse_sheet(css: str) -> Sheet:
    tokens = tinycss2.parse_component_value_list(css, skip_comments=True)
    depth, line = css_urls.deepest_nesting(tokens)
    if depth > MAX_NESTING:  # refused unread: the syntax and URL gates fail
        return Sheet(
            errors=[f"line {line}: nested {depth} levels deep, at most {MAX_NESTING}"],
            urls=[
                css_urls.UrlFinding(
                    line=line, excerpt="…", reason="too deeply nested to check"
                )
            ],
        )
    sheet = Sheet(
        imports=css_urls.find_imports(tokens), urls=css_urls.find_urls(tokens)
    )
    rules = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
    sheet.minified = "".join(_walk(rules, sheet))
    return sheet


# Helpers for the checks ------------------------------------------------------


def _size(n: int) -> str:
    return f"{n / KB:.1f} KB" if n >= KB else f"{n} B"


def _is_zero(value: str) -> bool:
    return value in ("0", "0px", "0em", "0rem", "0.0")


def _removes_outline(block: Block) -> bool:
    for declaration in block.declarations:
        value = _text(declaration.value).strip().lower()
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
        value = _text(declaration.value).strip().lower()
        if declaration.lower_name.startswith(_OUTLINE_REPLACEMENTS) and value not in (
            "none",
            "0",
            "transparent",
        ):
            return True
    return False


def _targets_links(prelude: list[Node]) -> bool:
    """True for ``a``, ``nav a:hover``, ``:link``, ``:any-link`` selectors."""
    previous: Node | None = None
    for node in prelude:
        if node.type == "ident":
            after_colon = (
                previous is not None
                and previous.type == "literal"
                and previous.value == ":"
            )
            after_class = (
                previous is not None
                and previous.type == "literal"
                and previous.value in (".", "|")
            )
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
            value = _text(declaration.value).strip().lower()
            if value and value != "none" and not value.startswith(("none ", "0s")):
                found.append(declaration.lower_name)
    return found


def _within(block: Block, feature: str) -> bool:
    """Inside an at-rule whose prelude has ``feature`` (spaces ignored)."""
    return any(feature in c.lower().replace(" ", "") for c in block.conditions)


def _token_pairs(
    tokens: dict[str, str], fg: str, backgrounds: Sequence[str]
) -> list[tuple[str, float]]:
    return [
        (
            f"{TOKENS[fg].lower()} on {TOKENS[bg].lower()}",
            contrast_ratio(tokens[fg], tokens[bg]),
        )
        for bg in backgrounds
    ]


def _page(tokens: dict[str, str]) -> contrast.Page:
    """What every rule sits on: the page and card backgrounds, the text colour."""

    def shade(name: str) -> contrast.Shade:
        colour = tokens[name]
        return contrast.Shade(from_hex(colour), f"your {TOKENS[name]} colour {colour}")

    properties = {f"--{name}": tokens[name] for name in TOKENS}
    properties["--accent-text"] = readable_on(tokens["accent"])
    for name, (text, background) in STATUS_COLOURS.items():
        properties[f"--{name}"] = text
        properties[f"--{name}-bg"] = background
    return contrast.Page(
        backgrounds=[shade("bg"), shade("surface")],
        texts=[shade("text")],
        properties=properties,
        property_pairs=[(f"--{name}", f"--{name}-bg") for name in STATUS_COLOURS],
    )


# The checks ------------------------------------------------------------------


def performance_checks(sheet: Sheet, image_sizes: Sequence[int]) -> list[CheckResult]:
    minified = len(sheet.minified.encode())
    gzipped = len(gzip.compress(sheet.minified.encode(), mtime=0))
    results = [
        CheckResult(
            code="syntax",
            category=PERFORMANCE,
            title="Stylesheet parses cleanly",
            passed=not sheet.errors,
            measured=f"{len(sheet.errors)} parse error(s)",
            threshold="no parse errors",
            fix="Fix the reported lines: browsers drop rules they cannot parse.",
            details=sheet.errors[:20],
        ),
        CheckResult(
            code="size_minified",
            category=PERFORMANCE,
            title="Stylesheet size, minified",
            passed=minified <= MAX_MINIFIED_BYTES,
            measured=_size(minified),
            threshold=f"at most {_size(MAX_MINIFIED_BYTES)}",
            fix="Remove unused rules and large embedded data: URIs; "
            "override the design tokens instead of restyling every component.",
        ),
        CheckResult(
            code="size_gzipped",
            category=PERFORMANCE,
            title="Stylesheet size, gzipped",
            passed=gzipped <= MAX_GZIPPED_BYTES,
            measured=_size(gzipped),
            threshold=f"at most {_size(MAX_GZIPPED_BYTES)}",
            fix="Embedded fonts and images compress poorly: drop or shrink them.",
        ),
        CheckResult(
            code="rule_count",
            category=PERFORMANCE,
            title="Number of rules and selectors",
            passed=sheet.rules <= MAX_RULES and sheet.selectors <= MAX_SELECTORS,
            measured=f"{sheet.rules} rules, {sheet.selectors} selectors",
            threshold=f"at most {MAX_RULES} rules and {MAX_SELECTORS} selectors",
            fix="Merge duplicate rules and rely on the CSS custom properties.",
        ),
        CheckResult(
            code="no_import",
            category=PERFORMANCE,
            title="No @import",
            passed=not sheet.imports,
            measured=f"{len(sheet.imports)} @import rule(s)",
            threshold="none",
            fix="Paste the imported CSS into the stylesheet: each @import is "
            "another blocking request.",
            details=[f"line {line}" for line in sheet.imports],
        ),
        CheckResult(
            code="no_remote_urls",
            category=PERFORMANCE,
            title="No remote or external URLs",
            passed=not sheet.urls,
            measured=f"{len(sheet.urls)} external URL(s)",
            threshold="none (only data: images and fonts)",
            fix=css_urls.FIX,
            details=[str(finding) for finding in sheet.urls[:20]],
        ),
    ]
    largest = max(image_sizes, default=0)
    results.append(
        CheckResult(
            code="preview_images",
            category=PERFORMANCE,
            title="Preview images",
            passed=largest <= MAX_IMAGE_BYTES and len(image_sizes) <= MAX_IMAGES,
            measured=(
                f"{len(image_sizes)} image(s), largest {_size(largest)}"
                if image_sizes
                else "no images"
            ),
            threshold=f"at most {MAX_IMAGES} images of {_size(MAX_IMAGE_BYTES)} each",
            fix="Export previews as compressed WebP or JPEG at 1280 px wide or less.",
        )
    )
    return results


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
    measured = contrast.measure(sheet.blocks, page=_page(tokens))
    return [
        *(_token_contrast_check(spec, tokens) for spec in TOKEN_CONTRAST),
        _link_check(sheet, tokens),
        _rule_contrast_check(measured),
        _colours_readable_check(measured),
        _focus_visible_check(sheet),
        _reduced_motion_check(sheet),
        _tokens_respected_check(sheet),
    ]


def _token_contrast_check(spec: ContrastSpec, tokens: dict[str, str]) -> CheckResult:
    pairs = _token_pairs(tokens, spec.token, ("bg", "surface"))
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
    pairs = _token_pairs(tokens, "accent", ("bg", "surface"))
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


def _rule_contrast_check(measured: contrast.Measured) -> CheckResult:
    """Every text/background pair the rules set, not only the tokens.

    A rule that sets only a background is measured with the text colour it
    inherits, since that is the text a buyer will read on it.
    """
    pairs = measured.pairs
    failing = sorted(
        (p for p in pairs if not p.passed), key=lambda p: (p.line, p.ratio)
    )
    if not pairs:
        summary = "no rule sets a text or background colour"
    else:
        worst = min(pairs, key=lambda p: p.shortfall)
        lowest = (
            f"lowest {format_ratio(worst.ratio)} ({worst.selector}, line {worst.line})"
        )
        summary = (
            f"{len(failing)} of {len(pairs)} colour pairs too faint, {lowest}"
            if failing
            else f"{len(pairs)} colour pair(s), {lowest}"
        )
    return CheckResult(
        code="contrast_rules",
        category=ACCESSIBILITY,
        title="Text contrast in every rule",
        passed=not failing,
        measured=summary,
        threshold=f"at least {TEXT_CONTRAST:g}:1 (large text, 24px or 18.66px "
        f"bold, {NON_TEXT_CONTRAST:g}:1), on the rule's own background, else "
        "the one it is nested in, else the page and card backgrounds",
        fix="Change the text colour or the background of each rule listed "
        "until the pair reaches the threshold. A rule that sets only a "
        "background is read with the text colour it inherits (your text "
        "colour unless an enclosing rule sets one): set color in that rule too.",
        details=_capped([contrast.describe_pair(p) for p in failing]),
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
        details=_capped([str(u) for u in unreadable]),
    )


def _capped(lines: list[str], limit: int = 20) -> list[str]:
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"… and {len(lines) - limit} more"]


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


def _reduced_motion_check(sheet: Sheet) -> CheckResult:
    opted_out = any(
        _within(b, "prefers-reduced-motion:reduce")
        and any(
            d.lower_name.startswith(("animation", "transition")) for d in b.declarations
        )
        for b in sheet.blocks
    )
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
            f"{len(moving)} animated rule(s) outside prefers-reduced-motion"
            if not opted_out
            else f"{len(moving)} animated rule(s), switched off for reduce"
        ),
        threshold="every animation inside @media (prefers-reduced-motion: "
        "no-preference), or switched off under reduce",
        fix="Wrap animations and transitions in "
        "@media (prefers-reduced-motion: no-preference) { … }.",
        details=[]
        if opted_out
        else [f"line {b.line}: {b.selector}" for b in moving[:20]],
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


def run_checks(
    *, css: str, tokens: dict[str, str], image_sizes: Sequence[int] = ()
) -> list[CheckResult]:
    """Every gate, in report order: performance first, then accessibility."""
    sheet = parse_sheet(css)
    return performance_checks(sheet, image_sizes) + accessibility_checks(sheet, tokens)


def all_passed(results: Iterable[CheckResult | dict[str, Any]]) -> bool:
    return all(r["passed"] if isinstance(r, dict) else r.passed for r in results)
