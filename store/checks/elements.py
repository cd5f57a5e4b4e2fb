"""Which element a rule styles, and the other rules for that element.

The element a selector matches in the app's markup is not known here; its
structure is: ``.banner a:hover`` styles the element ``.banner a`` styles,
in a state, and that element lies inside the one ``.banner`` styles.
"""

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .declarations import winning
from .sheet import Block

if TYPE_CHECKING:
    from .shades import Shade
    from .values import Findings

_PAGE_SELECTORS = frozenset({":root", "html", "body"})
_STATES = (
    "hover|focus|focus-visible|focus-within|active|visited|link|any-link|target"
    "|checked|enabled|disabled|placeholder-shown|open"
)
_STATE = re.compile(rf"(?::(?:{_STATES}))+$", re.IGNORECASE)
_PSEUDO_ELEMENT = re.compile(
    r"::|:(?=(?:before|after|first-line|first-letter)\b)", re.IGNORECASE
)
_COMBINATORS = " >+~"


def is_page(block: Block) -> bool:
    """A top-level rule for the page itself: ``:root``, ``html``, ``body``."""
    selectors = [s.strip().lower() for s in block.selector.split(",")]
    return block.parent is None and all(s in _PAGE_SELECTORS for s in selectors)


def selector_list(text: str) -> list[str]:
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
    for part in _scan_selector(selector, _COMBINATORS):
        head, body = part[:1], part[1:] if part[:1] in _COMBINATORS else part
        if head in _COMBINATORS and head != " ":
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


def _element_key(selector: str) -> str:
    """The element a selector styles, whatever state it is in."""
    compounds = _compounds(selector)
    if not compounds:
        return selector
    combinator, last = compounds[-1]
    return _join([*compounds[:-1], (combinator, _stateless(last))])


class Cascaded(ABC):
    """What text colours and backgrounds share: where a rule that sets
    nothing takes its value from."""

    rules: "RuleIndex"
    findings: "Findings"

    def __init__(self) -> None:
        self._element_cache: dict[str, list[Shade]] = {}

    @abstractmethod
    def of(self, block: Block) -> list["Shade"]:
        """The shades the rule's elements show."""

    @abstractmethod
    def _element_shades(self, selector: str, exclude: Block | None) -> list["Shade"]:
        """The shades an element gets from its rules (but ``exclude``)."""

    def _element(self, selector: str, exclude: Block | None) -> list["Shade"]:
        """``_element_shades`` without repeats, kept per selector when no rule
        is left out (the same element is asked for again and again)."""
        if exclude is None and selector in self._element_cache:
            return self._element_cache[selector]
        shades = list(dict.fromkeys(self._element_shades(selector, exclude)))
        if exclude is None:
            self._element_cache[selector] = shades
        return shades

    def _behind(self, block: Block, page: Sequence["Shade"]) -> list["Shade"]:
        """The rule it is nested in, else the page's (``page``), else what the
        elements its selectors match show from their other rules."""
        if block.parent is not None:
            return self.of(block.parent)
        if is_page(block):
            return list(page)
        shades = [
            shade
            for selector in self.rules.selectors[id(block)]
            for shade in self._element(selector, block)
        ]
        return self.findings.cap(block, shades)


def ancestor(selector: str) -> str | None:
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


def _distinct(blocks: Iterable[Block]) -> list[Block]:
    return list({id(block): block for block in blocks}.values())


class RuleIndex:
    """The stylesheet's rules (not at-rules), and the top-level ones by element.

    Other rules for the same element, and those for its ancestors, say
    what lies around a rule that sets only a text colour or a background.
    """

    def __init__(self, blocks: Iterable[Block]) -> None:
        self.rules = [b for b in blocks if not b.selector.startswith("@")]
        self.page_rules = [b for b in self.rules if is_page(b)]
        self.won = {id(b): winning(b) for b in self.rules}
        self.selectors = {id(b): selector_list(b.selector) for b in self.rules}
        self._by_element: dict[str, list[tuple[Block, str]]] = {}
        for block in self.rules:
            if block.parent is None:
                for selector in self.selectors[id(block)]:
                    self._by_element.setdefault(_element_key(selector), []).append(
                        (block, selector)
                    )

    def same_element(
        self, selector: str, exclude: Block | None, sets: Callable[[Block], Any]
    ) -> tuple[list[Block], list[Block]]:
        """Other rules styling the element that set something: (always, maybe).

        A rule for the element in every state and outside any @media always
        applies; one for a state (``:hover``) or a condition only may.
        """
        compounds = _compounds(selector)
        keys = {_element_key(selector)}
        if compounds:  # ``a`` styles every ``.banner a`` too
            keys.add(_element_key(compounds[-1][1]))
        always: list[Block] = []
        maybe: list[Block] = []
        for key in keys:
            for rule, written in self._by_element.get(key, []):
                if rule is exclude or sets(rule) is None:
                    continue
                last = _compounds(written)[-1][1]
                if _stateless(last) == last and not rule.conditions:
                    always.append(rule)
                else:
                    maybe.append(rule)
        return _distinct(always), _distinct(maybe)
