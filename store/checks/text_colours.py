"""The text colours a rule's elements show.

A rule's text colour is its own ``color``; else that of other rules for the
same element (``.chip`` for ``.chip:hover``, ``a`` for ``.banner a``); else
the enclosing element's: the rule it is nested in, or the rules for the
ancestor its selector names (``.banner`` for ``.banner a``); else the
page's: ``:root``/``html``/``body`` rules and the Text token. ``inherit``,
``unset``, ``revert`` and ``currentColor`` take the enclosing element's.
"""

from ..colours import Rgba
from .elements import Cascaded, RuleIndex, ancestor, is_page
from .shades import Page, Shade, block_where
from .sheet import Block
from .values import Values


class TextColours(Cascaded):
    def __init__(self, rules: RuleIndex, values: Values, page: Page) -> None:
        super().__init__()
        self.rules = rules
        self.values = values
        self.findings = values.findings
        self.page = page
        self._texts: dict[int, list[Shade]] = {}
        self._own: dict[int, list[Shade] | None] = {}
        self._page_texts: list[Shade] | None = None

    def own(self, block: Block) -> list[Shade] | None:
        """The rule's text colours; None when it leaves the inherited one.

        An empty list is a colour that could not be read (reported).
        """
        key = id(block)
        if key not in self._own:
            self._own[key] = None  # a guard; rules do not loop
            self._own[key] = self._read(block)
        return self._own[key]

    def _read(self, block: Block) -> list[Shade] | None:
        declaration = self.rules.won[id(block)].get("color")
        if declaration is None:
            return None
        options = self.values.options(block, declaration)
        shades: list[Shade] = []
        inherits, unknown = False, not options
        for label, nodes in options:
            colour = self.values.colour(block, declaration, nodes)
            if isinstance(colour, Rgba):
                shades.append(Shade(colour, label, block_where(block)))
            inherits = inherits or colour == "inherit"
            unknown = unknown or colour == "unreadable"
        if inherits and not shades and not unknown:
            return None  # inherit, unset, currentColor: sets nothing
        if inherits:
            shades.extend(self._inherited(block))
        return self.findings.cap(block, shades)

    def of(self, block: Block) -> list[Shade]:
        """The text colours the rule's elements show."""
        key = id(block)
        if key not in self._texts:
            own = self.own(block)
            self._texts[key] = self._enclosing(block) if own is None else own
        return self._texts[key]

    def _enclosing(self, block: Block) -> list[Shade]:
        """The text colour the rule's elements get when it sets none."""
        return self._behind(block, self.page.texts)

    def _inherited(self, block: Block) -> list[Shade]:
        """The enclosing element's text colour, for ``inherit``."""
        if block.parent is not None:
            return self.of(block.parent)
        if is_page(block):
            return list(self.page.texts)
        shades = []
        for selector in self.rules.selectors[id(block)]:
            shades.extend(self._around(selector))
        return self.findings.cap(block, shades)

    def _around(self, selector: str) -> list[Shade]:
        """The text colour of the element enclosing the selector's."""
        outer = ancestor(selector)
        return self._page_layer() if outer is None else self._element(outer, None)

    def _element_shades(self, selector: str, exclude: Block | None) -> list[Shade]:
        """The element's text colours from its rules (but ``exclude``)."""
        always, maybe = self.rules.same_element(selector, exclude, self.own)
        shades = [s for rule in [*always, *maybe] for s in self.own(rule) or []]
        if not always:
            shades.extend(self._around(selector))
        return shades

    def _page_layer(self) -> list[Shade]:
        if self._page_texts is None:  # the same for every top-level rule
            shades = [
                shade
                for rule in self.rules.page_rules
                if self.own(rule) is not None
                for shade in self.of(rule)
            ]
            self._page_texts = list(dict.fromkeys([*self.page.texts, *shades]))
        return self._page_texts
