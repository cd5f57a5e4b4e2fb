"""Every text-on-background pair a theme stylesheet sets, measured as WCAG does.

A theme styles the app's own markup, so which element a selector matches is
not known here; what is known is the structure the creator wrote. The model:

- A rule's text colour is its own, else its element's from other rules,
  else the enclosing element's, else the page's (``text_colours``).
- A rule's background is found the same way, the page's being the page
  rules' and the Background and Surface tokens (``backgrounds``).
- A rule that sets a text colour or a background is measured against every
  candidate of the other. Translucent colours are painted over what lies
  below first, as WCAG tools do; fully transparent text is hidden text and
  is not measured. Rules for a state (``:hover``) or inside @media may apply,
  so they add candidates rather than replace them.
- ``var()`` takes every value the stylesheet gives the property anywhere,
  and the fallback unless a page rule always defines it (``values``).

A value that cannot be read as a colour is reported, never guessed: the
checks fail closed on it.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from ..colours import Rgba, composite, from_hex, ratio_between
from .backgrounds import Backgrounds
from .declarations import font_bold, font_size, significant
from .elements import RuleIndex, is_page
from .shades import (
    LARGE_TEXT_MINIMUM,
    TEXT_MINIMUM,
    ColourPair,
    Measured,
    Page,
    Shade,
    block_name,
    block_where,
    describe,
    describe_pair,
)
from .sheet import Block
from .text_colours import TextColours
from .values import MAX_VARIANTS, MAX_WORK, Exhausted, Findings, Values

__all__ = [
    "LARGE_TEXT_MINIMUM",
    "MAX_VARIANTS",
    "MAX_WORK",
    "TEXT_MINIMUM",
    "ColourPair",
    "Measured",
    "Page",
    "Shade",
    "describe_pair",
    "measure",
]


def measure(blocks: Iterable[Block], *, page: Page) -> Measured:
    """Every pair the rules set, and every colour value that cannot be read."""
    return _Cascade(blocks, page).measure()


class _Cascade:
    def __init__(self, blocks: Iterable[Block], page: Page) -> None:
        self.page = page
        self.rules = RuleIndex(blocks)
        self.findings = Findings()
        self.values = Values(self.rules, page, self.findings)
        self.texts = TextColours(self.rules, self.values, page)
        self.backgrounds = Backgrounds(self.rules, self.values, self.texts, page)

    def measure(self) -> Measured:
        pairs: dict[tuple[int, str, str, str], ColourPair] = {}
        for block in self.rules.rules:
            try:
                found = [*self._pairs(block), *self._property_pairs(block)]
            except Exhausted:
                self.findings.exhausted(block)
                break
            for pair in found:
                pairs.setdefault(
                    (pair.line, pair.selector, pair.text, pair.background), pair
                )
        unreadable = self.findings.unreadable.values()
        return Measured(
            pairs=list(pairs.values()),
            unreadable=sorted(unreadable, key=lambda u: u.line),
        )

    # Pairs the rules set ---------------------------------------------------

    def _pairs(self, block: Block) -> list[ColourPair]:
        own_texts = self.texts.own(block)
        own_backgrounds = self.backgrounds.own(block)
        if own_texts is None and own_backgrounds is None:
            return []
        texts = self.texts.of(block)
        backgrounds = self.backgrounds.of(block)
        hidden = all(shade.colour.alpha == 0 for shade in texts)
        if own_backgrounds and hidden and self._clips_text(block):
            # Transparent text filled with its own background (background-clip:
            # text) shows that background's colours on what lies below.
            texts = own_backgrounds
            backgrounds = self.backgrounds.enclosing(block)
        minimum = LARGE_TEXT_MINIMUM if self._large(block) else TEXT_MINIMUM
        return self._pair(block, texts, backgrounds, minimum)

    def _nearest(self, block: Block, slot: str) -> Any | None:
        """The declaration filling ``slot`` in the rule or the nearest enclosing."""
        chain: Block | None = block
        while chain is not None:
            declaration = self.rules.won[id(chain)].get(slot)
            if declaration is not None:
                return declaration
            chain = chain.parent
        return None

    def _large(self, block: Block) -> bool:
        """Large text (WCAG 1.4.3): 24px, or 18.66px (14pt) bold."""
        size_declaration = self._nearest(block, "font-size")
        size = None if size_declaration is None else font_size(size_declaration)
        if size is None:
            return False  # unset, or in units not known here
        weight = self._nearest(block, "font-weight")
        bold = weight is not None and font_bold(weight) is True
        return size >= 24 or (size >= 18.66 and bold)

    def _clips_text(self, block: Block) -> bool:
        declaration = self.rules.won[id(block)].get("background-clip")
        return declaration is not None and any(
            n.type == "ident" and n.lower_value == "text"
            for n in significant(declaration.value)
        )

    def _pair(
        self,
        block: Block,
        texts: Sequence[Shade],
        backgrounds: Sequence[Shade],
        minimum: float,
    ) -> list[ColourPair]:
        pairs: list[ColourPair] = []
        where = block_where(block)
        self.findings.spend(len(texts) * len(backgrounds))
        for text in texts:
            if text.colour.alpha == 0:
                continue  # transparent text: hidden, nothing to read
            for background in backgrounds:
                shown = composite(text.colour, background.colour)
                described = describe(text, where)
                if not text.colour.opaque:
                    described += f" (shows as {shown.hex})"
                pairs.append(
                    ColourPair(
                        line=block.line,
                        selector=block_name(block),
                        text=described,
                        background=describe(background, where),
                        ratio=ratio_between(shown, background.colour),
                        minimum=minimum,
                    )
                )
        return pairs

    # Pairs of custom properties the app paints together -------------------

    def _property_pairs(self, block: Block) -> list[ColourPair]:
        """Status colour pairs the rule restyles, read as the app paints them."""
        pairs = []
        names = {d.name for d in block.declarations}
        for text_name, background_name in self.page.property_pairs:
            if text_name not in names and background_name not in names:
                continue
            backgrounds = [
                self.findings.over(shade, under)
                for shade in self._property(block, background_name)
                for under in self.page.backgrounds
            ]
            texts = self._property(block, text_name)
            pairs.extend(
                self._pair(block, texts, list(dict.fromkeys(backgrounds)), TEXT_MINIMUM)
            )
        return pairs

    def _property(self, block: Block, name: str) -> list[Shade]:
        """What a custom property is in the rule: its own, else inherited."""
        chain: Block | None = block
        while chain is not None:
            here = self._property_here(chain, name)
            if here is not None:
                return here
            chain = chain.parent
        shades = []
        if not is_page(block):
            for rule in self.rules.page_rules:
                shades.extend(self._property_here(rule, name) or [])
        if name in self.values.app_values:
            value = self.values.app_values[name]
            shades.append(Shade(from_hex(value), f"the app's {name} {value}"))
        return shades

    def _property_here(self, block: Block, name: str) -> list[Shade] | None:
        """The colours the rule gives a custom property; None if it sets none."""
        found = [d for d in block.declarations if d.name == name]
        if not found:
            return None
        shades = []
        for declaration in found:
            for label, nodes in self.values.options(block, declaration):
                colour = self.values.colour(block, declaration, nodes)
                if isinstance(colour, Rgba):
                    shades.append(Shade(colour, f"{name}: {label}", block_where(block)))
        return shades
