"""Every text-on-background pair a theme stylesheet sets, measured as WCAG does.

A theme styles the app's own markup, so which element a selector matches is
not known here; what is known is the structure the creator wrote. The model:

- A rule's text colour is its own ``color``; else that of other rules for
  the same element (``.chip`` for ``.chip:hover``, ``a`` for ``.banner a``);
  else the enclosing element's: the rule it is nested in, or the rules for
  the ancestor its selector names (``.banner`` for ``.banner a``); else the
  page's: ``:root``/``html``/``body`` rules and the Text token.
  ``inherit``, ``unset``, ``revert`` and ``currentColor`` take the enclosing
  element's colour.
- A rule's background is found the same way, the page's being the page
  rules' and the Background and Surface tokens (a rule may style text on the
  page or in a card). Its own background is ``background-color``, the colour
  of the ``background`` shorthand, or gradient stops.
- A rule that sets a text colour or a background is measured against every
  candidate of the other. Translucent colours are painted over what lies
  below first, as WCAG tools do; fully transparent text is hidden text and
  is not measured. Rules for a state (``:hover``) or inside @media may apply,
  so they add candidates rather than replace them.
- ``var()`` takes every value the stylesheet gives the property anywhere
  (which rules nest in which is not known), and the fallback unless a page
  rule always defines it.

A value that cannot be read as a colour is reported, never guessed: the
checks fail closed on it.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import tinycss2
from tinycss2.ast import Node
from tinycss2.serializer import serialize_identifier

from .colours import (
    Rgba,
    UnreadableColour,
    composite,
    format_ratio,
    from_hex,
    ratio_between,
    read_colour,
)

if TYPE_CHECKING:
    from .checks import Block

TEXT_MINIMUM = 4.5
LARGE_TEXT_MINIMUM = 3.0  # WCAG 1.4.3: 24px, or 18.66px (14pt) bold
MAX_VARIANTS = 16  # values one declaration may take through var()
MAX_SHADES = 16  # text or background colours one rule may end up with
# Colours blended and pairs measured in all: bounds the time a hostile
# stylesheet can take (well under a second); beyond it the check fails.
MAX_WORK = 20_000
_SELECTOR_CHARS = 60

_PAGE_SELECTORS = frozenset({":root", "html", "body"})
_STATES = (
    "hover|focus|focus-visible|focus-within|active|visited|link|any-link|target"
    "|checked|enabled|disabled|placeholder-shown|open"
)
_STATE = re.compile(rf"(?::(?:{_STATES}))+$", re.IGNORECASE)
_PSEUDO_ELEMENT = re.compile(
    r"::|:(?=(?:before|after|first-line|first-letter)\b)", re.IGNORECASE
)
_INHERIT = frozenset({"inherit", "unset", "revert", "revert-layer"})
_BLOCKS = ("() block", "[] block", "{} block")
# Words of the background shorthand and of gradients that are not colours.
_BACKGROUND_WORDS = frozenset(
    {
        *("none", "repeat", "repeat-x", "repeat-y", "no-repeat", "space", "round"),
        *("scroll", "fixed", "local", "border-box", "padding-box", "content-box"),
        *("text", "left", "right", "top", "bottom", "center", "cover", "contain"),
        "auto",
    }
)
_GRADIENT_WORDS = frozenset(
    {
        *("to", "at", "from", "in", "left", "right", "top", "bottom", "center"),
        *("circle", "ellipse", "closest-side", "closest-corner", "farthest-side"),
        *("farthest-corner", "shorter", "longer", "increasing", "decreasing", "hue"),
        *("srgb", "srgb-linear", "display-p3", "a98-rgb", "prophoto-rgb", "rec2020"),
        *("lab", "oklab", "xyz", "xyz-d50", "xyz-d65", "hsl", "hwb", "lch", "oklch"),
    }
)
_IMAGE_FUNCTIONS = frozenset(
    {"url", "src", "image", "image-set", "cross-fade", "element", "paint"}
)
_MATHS = frozenset({"calc", "min", "max", "clamp", "var"})
_FONT_KEYWORD_PX = {
    "xx-small": 9.0,
    "x-small": 10.0,
    "small": 13.0,
    "medium": 16.0,
    "large": 18.0,
    "x-large": 24.0,
    "xx-large": 32.0,
    "xxx-large": 48.0,
}
_FONT_UNIT_PX = {"px": 1.0, "pt": 4 / 3, "pc": 16.0, "rem": 16.0, "in": 96.0}


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


def measure(blocks: Iterable["Block"], *, page: Page) -> Measured:
    """Every pair the rules set, and every colour value that cannot be read."""
    return _Cascade(blocks, page).measure()


def describe_pair(pair: ColourPair) -> str:
    large = " (large text)" if pair.minimum == LARGE_TEXT_MINIMUM else ""
    return (
        f"line {pair.line}: {pair.selector}: text {pair.text} on {pair.background}: "
        f"{format_ratio(pair.ratio)}, needs {pair.minimum:g}:1{large}"
    )


# Reading values ----------------------------------------------------------------


def _written(nodes: Iterable[Node]) -> str:
    text = tinycss2.serialize(n for n in nodes if n.type != "comment")
    return " ".join(text.split())


def _significant(nodes: Iterable[Node]) -> list[Node]:
    return [n for n in nodes if n.type not in ("whitespace", "comment")]


def _is_page(block: "Block") -> bool:
    selectors = [s.strip().lower() for s in block.selector.split(",")]
    return block.parent is None and all(s in _PAGE_SELECTORS for s in selectors)


def _selector_list(text: str) -> list[str]:
    """``a, :is(b, c) d`` -> ``["a", ":is(b, c) d"]``."""
    return [part.strip() for part in _scan_selector(text, ",") if part.strip()]


def _scan_selector(text: str, separators: str) -> list[str]:
    """Split at separators outside brackets and strings, keeping each separator."""
    parts, current, depth, quote = [], "", 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif depth == 0 and char in separators:
            parts.append(current)
            current = "" if char == "," else char
            continue
        current += char
    return [*parts, current]


def _compounds(selector: str) -> list[tuple[str, str]]:
    """``.a > .b .c`` -> [("", ".a"), (">", ".b"), (" ", ".c")]."""
    compounds: list[tuple[str, str]] = []
    combinator = ""
    for part in _scan_selector(selector, " >+~"):
        head, body = part[:1], part[1:] if part[:1] in " >+~" else part
        if head in " >+~" and head != " ":
            combinator = head
        elif head == " " and combinator == "":
            combinator = " " if compounds else ""
        if body:
            compounds.append((combinator, body))
            combinator = ""
    return compounds


def _join(compounds: Sequence[tuple[str, str]]) -> str:
    text = ""
    for combinator, compound in compounds:
        if text:
            text += " " if combinator in ("", " ") else f" {combinator} "
        text += compound
    return text


def _stateless(compound: str) -> str:
    """``.button:hover:focus`` -> ``.button``: the same element in any state."""
    while (match := _STATE.search(compound)) and match.start() > 0:
        compound = compound[: match.start()]
    return compound


def _key(selector: str) -> str:
    """The element a selector styles, whatever state it is in."""
    compounds = _compounds(selector)
    if not compounds:
        return selector
    combinator, last = compounds[-1]
    return _join([*compounds[:-1], (combinator, _stateless(last))])


def _ancestor(selector: str) -> str | None:
    """The selector of the element whose box lies behind this one, if known.

    ``.banner a`` -> ``.banner``; ``.a::before`` -> ``.a``; ``.a + .b`` has
    an unknown parent (None), as has a single compound.
    """
    compounds = _compounds(selector)
    if not compounds:
        return None
    combinator, last = compounds[-1]
    element = _PSEUDO_ELEMENT.split(last, maxsplit=1)[0]
    if element != last:
        if element:
            return _join([*compounds[:-1], (combinator, element)])
        return _join(compounds[:-1]) or None
    index = len(compounds) - 1
    while index > 0 and compounds[index][0] in ("+", "~"):
        index -= 1  # a sibling shares the parent: look further left
    return _join(compounds[:index]) or None


def _distinct(blocks: Iterable["Block"]) -> list["Block"]:
    return list({id(block): block for block in blocks}.values())


def _name(block: "Block") -> str:
    selector = block.selector
    if len(selector) > _SELECTOR_CHARS:
        selector = selector[: _SELECTOR_CHARS - 1] + "…"
    return f"{selector} inside {_name(block.parent)}" if block.parent else selector


def _where(block: "Block") -> str:
    return f"{_name(block)}, line {block.line}"


def _describe(shade: Shade, where: str | None, *, shown: bool = True) -> str:
    """The shade in the creator's words, naming the rule it comes from."""
    text = shade.label
    if shade.origin is not None and shade.origin != where:
        text += f" (from {shade.origin})"
    if shown and shade.blended:
        text += f" (shows as {shade.colour.hex})"
    return text


def _winning(block: "Block") -> dict[str, Any]:
    """The declaration that wins each colour slot: ``!important``, then last."""
    slots: dict[str, Any] = {}
    fills = {
        "color": ("color",),
        "background": ("background-color", "background-image", "background-clip"),
        "background-color": ("background-color",),
        "background-image": ("background-image",),
        "background-clip": ("background-clip",),
        "-webkit-background-clip": ("background-clip",),
        "font": ("font-size", "font-weight"),
        "font-size": ("font-size",),
        "font-weight": ("font-weight",),
    }
    for declaration in block.declarations:
        for slot in fills.get(declaration.lower_name, ()):
            held = slots.get(slot)
            if held is None or declaration.important or not held.important:
                slots[slot] = declaration
    return slots


def _font(declaration: Any, slot: str) -> float | bool | None:
    """Font size in px (slot font-size) or boldness (font-weight); None: unknown."""
    nodes = _significant(declaration.value)
    shorthand = declaration.lower_name == "font"
    if slot == "font-weight":
        for node in nodes:
            if node.type in ("dimension", "percentage"):
                break  # the size: the weight comes before it
            if node.type == "ident" and node.lower_value == "bold":
                return True
            if node.type == "number" and node.is_integer and 1 <= node.value <= 1000:
                return node.value >= 700
        return False if shorthand else None
    for node in nodes:
        if node.type == "dimension" and node.lower_unit in _FONT_UNIT_PX:
            return float(node.value) * _FONT_UNIT_PX[node.lower_unit]
        if node.type == "ident" and node.lower_value in _FONT_KEYWORD_PX:
            return _FONT_KEYWORD_PX[node.lower_value]
        if node.type == "literal" and node.value == "/":
            break
    return None  # em, %, calc(): the size it resolves to is not known here


class _Exhausted(Exception):
    """The stylesheet asked for more colour combinations than are measured."""


class _Cascade:
    def __init__(self, blocks: Iterable["Block"], page: Page) -> None:
        self.page = page
        self.rules = [b for b in blocks if not b.selector.startswith("@")]
        self.page_rules = [b for b in self.rules if _is_page(b)]
        self.won = {id(b): _winning(b) for b in self.rules}
        self.defined_by: dict[str, list[tuple[Block, Any]]] = {}
        sheet_always: set[str] = set()  # set by a page rule in every case
        for block in self.rules:
            for declaration in block.declarations:
                name = declaration.name
                if name.startswith("--"):
                    self.defined_by.setdefault(name, []).append((block, declaration))
                    if _is_page(block) and not block.conditions:
                        sheet_always.add(name)
        # The app's own value of a property applies unless always replaced.
        self.app_values = {
            name: value
            for name, value in page.properties.items()
            if name not in sheet_always
        }
        self.always_defined = sheet_always | set(page.properties)
        self.unreadable: dict[tuple[int, str, str], Unreadable] = {}
        self._vars: dict[tuple[str, str], list[str] | UnreadableColour] = {}
        self._resolving: set[str] = set()
        self._texts: dict[int, list[Shade]] = {}
        self._backgrounds: dict[int, list[Shade]] = {}
        self._own_text_cache: dict[int, list[Shade] | None] = {}
        self._own_background_cache: dict[int, list[Shade] | None] = {}
        self._work_left = MAX_WORK
        self._parsed: dict[str, list[Node]] = {}
        self._page_texts: list[Shade] | None = None
        self._page_backgrounds: list[Shade] | None = None
        self._element_text_cache: dict[str, list[Shade]] = {}
        self._element_background_cache: dict[str, list[Shade]] = {}
        # Top-level rules by the element they style: other rules for the same
        # element, and those for its ancestors, say what lies around it.
        self.selectors = {id(b): _selector_list(b.selector) for b in self.rules}
        self.by_element: dict[str, list[tuple[Block, str]]] = {}
        for block in self.rules:
            if block.parent is None:
                for selector in self.selectors[id(block)]:
                    self.by_element.setdefault(_key(selector), []).append(
                        (block, selector)
                    )

    # var() -----------------------------------------------------------------

    def _expand(self, nodes: Iterable[Node]) -> list[str]:
        """Every text a value can take once var() is replaced (deduplicated)."""
        options = [""]
        for node in nodes:
            if node.type == "comment":
                continue
            if node.type == "function" and node.lower_name == "var":
                choices = self._var(node)
            elif node.type == "function":
                name = serialize_identifier(node.name)
                choices = [f"{name}({inner})" for inner in self._expand(node.arguments)]
            elif node.type in _BLOCKS:
                opening, closing = node.type[0], node.type[1]
                choices = [
                    f"{opening}{inner}{closing}" for inner in self._expand(node.content)
                ]
            else:
                choices = [node.serialize()]
            options = list(dict.fromkeys(o + c for o in options for c in choices))
            if len(options) > MAX_VARIANTS:
                raise UnreadableColour(
                    f"custom properties give it more than {MAX_VARIANTS} possible "
                    "values"
                )
        return options

    def _var(self, function: Node) -> list[str]:
        arguments = list(function.arguments)
        comma = next(
            (
                i
                for i, n in enumerate(arguments)
                if n.type == "literal" and n.value == ","
            ),
            None,
        )
        name_nodes = _significant(arguments if comma is None else arguments[:comma])
        if len(name_nodes) != 1 or not name_nodes[0].value.startswith("--"):
            raise UnreadableColour("var() without a custom property name")
        name = name_nodes[0].value
        fallback = None if comma is None else arguments[comma + 1 :]
        key = (name, "" if fallback is None else _written(fallback) + ",")
        if key in self._vars:
            cached = self._vars[key]
            if isinstance(cached, UnreadableColour):
                raise cached
            return cached
        if name in self._resolving:
            raise UnreadableColour(f"{name} refers to itself through var()")
        self._resolving.add(name)
        try:
            values: list[str] = []
            if name in self.app_values:
                values.append(self.app_values[name])
            for _, definition in self.defined_by.get(name, []):
                values.extend(self._expand(definition.value))
            if fallback is not None and name not in self.always_defined:
                values.extend(self._expand(fallback))
            if not values:
                raise UnreadableColour(
                    f"{name} is not defined in the stylesheet: define it in :root "
                    f"or give a fallback, e.g. var({name}, #1b1f24)"
                )
            result = list(dict.fromkeys(v.strip() for v in values))
        except UnreadableColour as problem:
            self._vars[key] = problem
            raise
        finally:
            self._resolving.discard(name)
        self._vars[key] = result
        return result

    # Reading declarations -----------------------------------------------------

    def _refuse(self, block: "Block", declaration: Any, reason: str) -> None:
        written = f"{declaration.name}: {_written(declaration.value)}"
        key = (block.line, written, reason)
        self.unreadable.setdefault(
            key,
            Unreadable(
                line=declaration.source_line or block.line,
                selector=_name(block),
                declaration=written,
                reason=reason,
            ),
        )

    def _capped(self, block: "Block", shades: list[Shade]) -> list[Shade]:
        shades = list(dict.fromkeys(shades))
        if len(shades) <= MAX_SHADES:
            return shades
        key = (block.line, "", "many")
        self.unreadable.setdefault(
            key,
            Unreadable(
                line=block.line,
                selector=_name(block),
                declaration="",
                reason=f"custom properties and nesting give it more than "
                f"{MAX_SHADES} possible colours: simplify them",
            ),
        )
        return shades[:MAX_SHADES]

    def _options(
        self, block: "Block", declaration: Any
    ) -> list[tuple[str, list[Node]]]:
        """(text as shown, parsed value) for each value var() lets it take."""
        written = _written(declaration.value)
        try:
            options = self._expand(declaration.value)
        except UnreadableColour as problem:
            self._refuse(block, declaration, str(problem))
            return []
        shown = []
        for option in options:
            if option not in self._parsed:
                self._parsed[option] = _significant(
                    tinycss2.parse_component_value_list(option, skip_comments=True)
                )
            nodes = self._parsed[option]
            text = _written(nodes)
            label = written if text == written else f"{written} = {text}"
            shown.append((label, nodes))
        return shown

    def _colour(
        self, block: "Block", declaration: Any, nodes: list[Node]
    ) -> Rgba | str:
        """A text colour, "inherit" (currentColor, inherit, unset) or "unreadable"."""
        if len(nodes) == 1 and nodes[0].type == "ident":
            keyword = nodes[0].lower_value
            if keyword in _INHERIT:
                return "inherit"
            if keyword == "initial":
                return Rgba(0, 0, 0)  # CanvasText in the light scheme
        if len(nodes) != 1:
            self._refuse(block, declaration, "not a single colour")
            return "unreadable"
        try:
            colour = read_colour(nodes[0])
        except UnreadableColour as problem:
            self._refuse(block, declaration, str(problem))
            return "unreadable"
        return "inherit" if colour is None else colour

    # Text colours ----------------------------------------------------------------

    def _own_texts(self, block: "Block") -> list[Shade] | None:
        """The rule's text colours; None when it leaves the inherited one.

        An empty list is a colour that could not be read (reported).
        """
        key = id(block)
        if key not in self._own_text_cache:
            self._own_text_cache[key] = None  # a guard; rules do not loop
            self._own_text_cache[key] = self._read_texts(block)
        return self._own_text_cache[key]

    def _read_texts(self, block: "Block") -> list[Shade] | None:
        declaration = self.won[id(block)].get("color")
        if declaration is None:
            return None
        options = self._options(block, declaration)
        shades: list[Shade] = []
        inherits, unknown = False, not options
        for label, nodes in options:
            colour = self._colour(block, declaration, nodes)
            if isinstance(colour, Rgba):
                shades.append(Shade(colour, label, _where(block)))
            inherits = inherits or colour == "inherit"
            unknown = unknown or colour == "unreadable"
        if inherits and not shades and not unknown:
            return None  # inherit, unset, currentColor: sets nothing
        if inherits:
            shades.extend(self._inherited_texts(block))
        return self._capped(block, shades)

    def texts(self, block: "Block") -> list[Shade]:
        key = id(block)
        if key not in self._texts:
            own = self._own_texts(block)
            self._texts[key] = self._enclosing_texts(block) if own is None else own
        return self._texts[key]

    def _enclosing_texts(self, block: "Block") -> list[Shade]:
        """The text colour the rule's elements get when it sets none."""
        if block.parent is not None:
            return self.texts(block.parent)
        if _is_page(block):
            return list(self.page.texts)
        shades = [
            shade
            for selector in self.selectors[id(block)]
            for shade in self._element_texts(selector, block)
        ]
        return self._capped(block, shades)

    def _inherited_texts(self, block: "Block") -> list[Shade]:
        """The enclosing element's text colour, for ``inherit``."""
        if block.parent is not None:
            return self.texts(block.parent)
        if _is_page(block):
            return list(self.page.texts)
        shades = []
        for selector in self.selectors[id(block)]:
            ancestor = _ancestor(selector)
            shades.extend(
                self._page_text_layer()
                if ancestor is None
                else self._element_texts(ancestor, None)
            )
        return self._capped(block, shades)

    def _same_element(
        self, selector: str, exclude: "Block | None", sets: Any
    ) -> tuple[list["Block"], list["Block"]]:
        """Other rules styling the element that set something: (always, maybe).

        A rule for the element in every state and outside any @media always
        applies; one for a state (``:hover``) or a condition only may.
        """
        compounds = _compounds(selector)
        keys = {_key(selector)}
        if compounds:  # ``a`` styles every ``.banner a`` too
            keys.add(_key(compounds[-1][1]))
        always: list[Block] = []
        maybe: list[Block] = []
        for key in keys:
            for rule, written in self.by_element.get(key, []):
                if rule is exclude or sets(rule) is None:
                    continue
                last = _compounds(written)[-1][1]
                if _stateless(last) == last and not rule.conditions:
                    always.append(rule)
                else:
                    maybe.append(rule)
        return _distinct(always), _distinct(maybe)

    def _element_texts(self, selector: str, exclude: "Block | None") -> list[Shade]:
        cached = exclude is None and selector in self._element_text_cache
        if cached:
            return self._element_text_cache[selector]
        always, maybe = self._same_element(selector, exclude, self._own_texts)
        shades = [s for rule in [*always, *maybe] for s in self._own_texts(rule) or []]
        if not always:
            ancestor = _ancestor(selector)
            shades.extend(
                self._page_text_layer()
                if ancestor is None
                else self._element_texts(ancestor, None)
            )
        shades = list(dict.fromkeys(shades))
        if exclude is None:
            self._element_text_cache[selector] = shades
        return shades

    def _page_text_layer(self) -> list[Shade]:
        if self._page_texts is None:  # the same for every top-level rule
            shades = [
                shade
                for rule in self.page_rules
                if self._own_texts(rule) is not None
                for shade in self.texts(rule)
            ]
            self._page_texts = list(dict.fromkeys([*self.page.texts, *shades]))
        return self._page_texts

    # Backgrounds -------------------------------------------------------------------

    def _layers(
        self, block: "Block", declaration: Any, nodes: list[Node]
    ) -> tuple[list[Rgba], list[tuple[str, Rgba]]] | str:
        """(background colours, gradient stops) of one value, or a keyword."""
        if len(nodes) == 1 and nodes[0].type == "ident":
            keyword = nodes[0].lower_value
            if keyword in _INHERIT:
                return "inherit"
            if keyword == "initial":
                return [], []  # transparent
        colours: list[Rgba] = []
        stops: list[tuple[str, Rgba]] = []
        try:
            for node in nodes:
                if node.type in ("number", "percentage", "dimension", "url"):
                    continue
                if node.type == "literal" and node.value in ("/", ","):
                    continue
                if node.type == "function":
                    name = node.lower_name.removeprefix("-webkit-")
                    if name.endswith("gradient"):
                        stops.extend(self._stops(node))
                        continue
                    if name in _IMAGE_FUNCTIONS or name in _MATHS:
                        continue
                if node.type == "ident" and node.lower_value in _BACKGROUND_WORDS:
                    continue
                colour = read_colour(node)
                if colour is None:  # currentColor: the rule's own text colour
                    colours.extend(shade.colour for shade in self.texts(block))
                else:
                    colours.append(colour)
        except UnreadableColour as problem:
            self._refuse(block, declaration, str(problem))
            return "unreadable"
        return colours, stops

    def _stops(self, gradient: Node) -> list[tuple[str, Rgba]]:
        stops = []
        for node in _significant(gradient.arguments):
            if node.type in ("number", "percentage", "dimension", "literal"):
                continue
            if node.type == "ident" and node.lower_value in _GRADIENT_WORDS:
                continue
            if node.type == "function" and node.lower_name in _MATHS:
                continue
            colour = read_colour(node)
            if colour is not None:
                stops.append((f"gradient stop {_written([node])}", colour))
        return stops

    def _own_backgrounds(self, block: "Block") -> list[Shade] | None:
        """Background shades the rule paints, maybe translucent.

        None when it paints no colour (none set, ``transparent``, an image
        alone); an empty list is a colour that could not be read (reported).
        """
        key = id(block)
        if key not in self._own_background_cache:
            self._own_background_cache[key] = None  # a guard; rules do not loop
            self._own_background_cache[key] = self._read_backgrounds(block)
        return self._own_background_cache[key]

    def _read_backgrounds(self, block: "Block") -> list[Shade] | None:
        won = self.won[id(block)]
        base: list[Shade] = []
        stops: list[Shade] = []
        unknown = False
        for slot in ("background-color", "background-image"):
            declaration = won.get(slot)
            if declaration is None or (
                slot == "background-image"
                and declaration is won.get("background-color")
            ):
                continue
            options = self._options(block, declaration)
            unknown = unknown or not options
            for label, nodes in options:
                layers = self._layers(block, declaration, nodes)
                if not isinstance(layers, tuple):
                    unknown = unknown or layers == "unreadable"
                    continue
                colours, gradient = layers
                if slot == "background-color":
                    base.extend(Shade(c, label, _where(block)) for c in colours)
                stops.extend(Shade(c, text, _where(block)) for text, c in gradient)
        if base and stops:  # gradients are painted over the background colour
            stops = [self._over(stop, under) for stop in stops for under in base]
        shades = [s for s in [*base, *stops] if s.colour.alpha > 0]
        if shades:
            return list(dict.fromkeys(shades))
        return [] if unknown else None

    def backgrounds(self, block: "Block") -> list[Shade]:
        """Opaque shades behind the rule's text."""
        key = id(block)
        if key not in self._backgrounds:
            self._backgrounds[key] = []  # a cycle cannot occur; guard anyway
            below = self._enclosing_backgrounds(block)
            own = self._own_backgrounds(block)
            if own is None:
                result = below
            else:
                result = [self._over(top, under) for top in own for under in below]
            self._backgrounds[key] = self._capped(block, result)
        return self._backgrounds[key]

    def _spend(self, work: int) -> None:
        self._work_left -= work
        if self._work_left < 0:
            raise _Exhausted

    def _over(self, top: Shade, under: Shade) -> Shade:
        if top.colour.opaque:
            return top
        if top.colour.alpha == 0:
            return under
        self._spend(1)
        return Shade(
            composite(top.colour, under.colour),
            f"{top.label} over {_describe(under, top.origin, shown=False)}",
            top.origin,
            blended=True,
        )

    def _enclosing_backgrounds(self, block: "Block") -> list[Shade]:
        """What lies behind the rule's elements when it paints nothing."""
        if block.parent is not None:
            return self.backgrounds(block.parent)
        if _is_page(block):
            return list(self.page.backgrounds)
        shades = [
            shade
            for selector in self.selectors[id(block)]
            for shade in self._element_backgrounds(selector, block)
        ]
        return self._capped(block, shades)

    def _element_backgrounds(
        self, selector: str, exclude: "Block | None"
    ) -> list[Shade]:
        if exclude is None and selector in self._element_background_cache:
            return self._element_background_cache[selector]
        ancestor = _ancestor(selector)
        below = (
            self._page_background_layer()
            if ancestor is None
            else self._element_backgrounds(ancestor, None)
        )
        always, maybe = self._same_element(selector, exclude, self._own_backgrounds)
        shades = [] if always else list(below)
        shades.extend(
            self._over(top, under)
            for rule in [*always, *maybe]
            for top in self._own_backgrounds(rule) or []
            for under in below
        )
        shades = list(dict.fromkeys(shades))
        if exclude is None:
            self._element_background_cache[selector] = shades
        return shades

    def _page_background_layer(self) -> list[Shade]:
        if self._page_backgrounds is None:  # the same for every top-level rule
            shades = [
                shade
                for rule in self.page_rules
                if self._own_backgrounds(rule) is not None
                for shade in self.backgrounds(rule)
            ]
            self._page_backgrounds = list(
                dict.fromkeys([*self.page.backgrounds, *shades])
            )
        return self._page_backgrounds

    # Pairs -------------------------------------------------------------------------

    def _large(self, block: "Block") -> bool:
        size: float | None = None
        bold: bool | None = None
        chain: Block | None = block
        while chain is not None and (size is None or bold is None):
            won = self.won[id(chain)]
            if size is None and "font-size" in won:
                found = _font(won["font-size"], "font-size")
                size = found if isinstance(found, float) else -1.0
            if bold is None and "font-weight" in won:
                found = _font(won["font-weight"], "font-weight")
                bold = found if isinstance(found, bool) else False
            chain = chain.parent
        if size is None or size < 0:
            return False
        return size >= 24 or (size >= 18.66 and bool(bold))

    def _clips_text(self, block: "Block") -> bool:
        declaration = self.won[id(block)].get("background-clip")
        return declaration is not None and any(
            n.type == "ident" and n.lower_value == "text"
            for n in _significant(declaration.value)
        )

    def pairs(self, block: "Block") -> list[ColourPair]:
        own_texts = self._own_texts(block)
        own_backgrounds = self._own_backgrounds(block)
        if own_texts is None and own_backgrounds is None:
            return []
        texts = self.texts(block)
        backgrounds = self.backgrounds(block)
        hidden = all(shade.colour.alpha == 0 for shade in texts)
        if own_backgrounds and hidden and self._clips_text(block):
            # Transparent text filled with its own background (background-clip:
            # text) shows that background's colours on what lies below.
            texts = own_backgrounds
            backgrounds = self._enclosing_backgrounds(block)
        minimum = LARGE_TEXT_MINIMUM if self._large(block) else TEXT_MINIMUM
        return self._pair(block, texts, backgrounds, minimum)

    def _pair(
        self,
        block: "Block",
        texts: Sequence[Shade],
        backgrounds: Sequence[Shade],
        minimum: float,
    ) -> list[ColourPair]:
        pairs: list[ColourPair] = []
        where = _where(block)
        self._spend(len(texts) * len(backgrounds))
        for text in texts:
            if text.colour.alpha == 0:
                continue  # transparent text: hidden, nothing to read
            for background in backgrounds:
                shown = composite(text.colour, background.colour)
                described = _describe(text, where)
                if not text.colour.opaque:
                    described += f" (shows as {shown.hex})"
                pairs.append(
                    ColourPair(
                        line=block.line,
                        selector=_name(block),
                        text=described,
                        background=_describe(background, where),
                        ratio=ratio_between(shown, background.colour),
                        minimum=minimum,
                    )
                )
        return pairs

    def _property_here(self, block: "Block", name: str) -> list[Shade] | None:
        """The colours the rule gives a custom property; None if it sets none."""
        found = [d for d in block.declarations if d.name == name]
        if not found:
            return None
        shades = []
        for declaration in found:
            for label, nodes in self._options(block, declaration):
                colour = self._colour(block, declaration, nodes)
                if isinstance(colour, Rgba):
                    shades.append(Shade(colour, f"{name}: {label}", _where(block)))
        return shades

    def _property(self, block: "Block", name: str) -> list[Shade]:
        """What a custom property is in the rule: its own, else inherited."""
        chain: Block | None = block
        while chain is not None:
            here = self._property_here(chain, name)
            if here is not None:
                return here
            chain = chain.parent
        shades = []
        if not _is_page(block):
            for rule in self.page_rules:
                shades.extend(self._property_here(rule, name) or [])
        if name in self.app_values:
            value = self.app_values[name]
            shades.append(Shade(from_hex(value), f"the app's {name} {value}"))
        return shades

    def property_pairs(self, block: "Block") -> list[ColourPair]:
        """Status colour pairs the rule restyles, read as the app paints them."""
        pairs = []
        for text_name, background_name in self.page.property_pairs:
            names = {d.name for d in block.declarations}
            if text_name not in names and background_name not in names:
                continue
            backgrounds = [
                self._over(shade, under)
                for shade in self._property(block, background_name)
                for under in self.page.backgrounds
            ]
            texts = self._property(block, text_name)
            pairs.extend(
                self._pair(block, texts, list(dict.fromkeys(backgrounds)), TEXT_MINIMUM)
            )
        return pairs

    def measure(self) -> Measured:
        pairs: dict[tuple[int, str, str, str], ColourPair] = {}
        for block in self.rules:
            try:
                found = [*self.pairs(block), *self.property_pairs(block)]
            except _Exhausted:
                self.unreadable[(block.line, "", "work")] = Unreadable(
                    line=block.line,
                    selector=_name(block),
                    declaration="",
                    reason="from here on the rules were not checked: custom "
                    "properties, nesting and translucent colours give more than "
                    f"{MAX_WORK} combinations; simplify them",
                )
                break
            for pair in found:
                pairs.setdefault(
                    (pair.line, pair.selector, pair.text, pair.background), pair
                )
        return Measured(
            pairs=list(pairs.values()),
            unreadable=sorted(self.unreadable.values(), key=lambda u: u.line),
        )
