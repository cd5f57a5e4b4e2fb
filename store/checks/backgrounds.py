"""The opaque backgrounds behind a rule's text.

A rule's own background is ``background-color``, the colour of the
``background`` shorthand, or gradient stops; when it paints none, what lies
behind is found as for text colours (``text_colours``), the page's being
the page rules' and the Background and Surface tokens (a rule may style
text on the page or in a card). Translucent colours are painted over what
lies below, as WCAG tools do.
"""

from typing import Any

from tinycss2.ast import Node

from ..colours import Rgba, UnreadableColour, read_colour
from .declarations import INHERIT, significant, single_keyword, written
from .elements import Cascaded, RuleIndex, ancestor
from .shades import Page, Shade, block_where
from .sheet import Block
from .text_colours import TextColours
from .values import Values

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
_SIZES = frozenset({"number", "percentage", "dimension"})

type Layers = tuple[list[Rgba], list[tuple[str, Rgba]]]


def _layer_kind(node: Node) -> str:
    """What a token of a background value is: "colour", "gradient" or "other"
    (sizes, positions, separators, images, maths)."""
    if node.type in _SIZES or node.type == "url":
        return "other"
    if node.type == "literal":
        return "other" if node.value in ("/", ",") else "colour"
    if node.type == "function":
        name = node.lower_name.removeprefix("-webkit-")
        if name.endswith("gradient"):
            return "gradient"
        return "other" if name in _IMAGE_FUNCTIONS or name in _MATHS else "colour"
    if node.type == "ident" and node.lower_value in _BACKGROUND_WORDS:
        return "other"
    return "colour"


def _is_stop_colour(node: Node) -> bool:
    """False for a gradient's positions, angles, directions and maths."""
    if node.type in _SIZES or node.type == "literal":
        return False
    if node.type == "ident":
        return node.lower_value not in _GRADIENT_WORDS
    return not (node.type == "function" and node.lower_name in _MATHS)


def _gradient_stops(gradient: Node) -> list[tuple[str, Rgba]]:
    stops = []
    for node in significant(gradient.arguments):
        if not _is_stop_colour(node):
            continue
        colour = read_colour(node)
        if colour is not None:
            stops.append((f"gradient stop {written([node])}", colour))
    return stops


class Backgrounds(Cascaded):
    def __init__(
        self, rules: RuleIndex, values: Values, texts: TextColours, page: Page
    ) -> None:
        super().__init__()
        self.rules = rules
        self.values = values
        self.texts = texts
        self.findings = values.findings
        self.page = page
        self._backgrounds: dict[int, list[Shade]] = {}
        self._own: dict[int, list[Shade] | None] = {}
        self._page_backgrounds: list[Shade] | None = None

    def own(self, block: Block) -> list[Shade] | None:
        """Background shades the rule paints, maybe translucent.

        None when it paints no colour (none set, ``transparent``, an image
        alone); an empty list is a colour that could not be read (reported).
        """
        key = id(block)
        if key not in self._own:
            self._own[key] = None  # a guard; rules do not loop
            self._own[key] = self._read(block)
        return self._own[key]

    def _read(self, block: Block) -> list[Shade] | None:
        base: list[Shade] = []
        stops: list[Shade] = []
        unknown = False
        for slot, declaration in self._painting(block):
            colours, gradient, readable = self._shades(block, declaration)
            if slot == "background-color":
                base.extend(colours)
            stops.extend(gradient)
            unknown = unknown or not readable
        if base and stops:  # gradients are painted over the background colour
            stops = [
                self.findings.over(stop, under) for stop in stops for under in base
            ]
        shades = [s for s in [*base, *stops] if s.colour.alpha > 0]
        if shades:
            return list(dict.fromkeys(shades))
        return [] if unknown else None

    def _painting(self, block: Block) -> list[tuple[str, Any]]:
        """(slot, declaration) that paint the rule's background, colour first.

        The ``background`` shorthand fills both slots: it is read once.
        """
        won = self.rules.won[id(block)]
        colour, image = won.get("background-color"), won.get("background-image")
        found = [] if colour is None else [("background-color", colour)]
        if image is not None and image is not colour:
            found.append(("background-image", image))
        return found

    def _shades(
        self, block: Block, declaration: Any
    ) -> tuple[list[Shade], list[Shade], bool]:
        """(colours, gradient stops, whether all was read) of one declaration."""
        colours: list[Shade] = []
        stops: list[Shade] = []
        options = self.values.options(block, declaration)
        readable = bool(options)
        for label, nodes in options:
            layers = self._layers(block, declaration, nodes)
            if isinstance(layers, str):
                readable = readable and layers != "unreadable"
                continue
            found, gradient = layers
            colours.extend(Shade(c, label, block_where(block)) for c in found)
            stops.extend(Shade(c, text, block_where(block)) for text, c in gradient)
        return colours, stops, readable

    def _layers(
        self, block: Block, declaration: Any, nodes: list[Node]
    ) -> Layers | str:
        """(background colours, gradient stops) of one value, or a keyword."""
        keyword = single_keyword(nodes)
        if keyword in INHERIT:
            return "inherit"
        if keyword == "initial":
            return [], []  # transparent
        colours: list[Rgba] = []
        stops: list[tuple[str, Rgba]] = []
        try:
            for node in nodes:
                kind = _layer_kind(node)
                if kind == "gradient":
                    stops.extend(_gradient_stops(node))
                elif kind == "colour":
                    colours.extend(self._colours(block, node))
        except UnreadableColour as problem:
            self.findings.refuse(block, declaration, str(problem))
            return "unreadable"
        return colours, stops

    def _colours(self, block: Block, node: Node) -> list[Rgba]:
        colour = read_colour(node)
        if colour is None:  # currentColor: the rule's own text colour
            return [shade.colour for shade in self.texts.of(block)]
        return [colour]

    def of(self, block: Block) -> list[Shade]:
        """Opaque shades behind the rule's text."""
        key = id(block)
        if key not in self._backgrounds:
            self._backgrounds[key] = []  # a cycle cannot occur; guard anyway
            below = self.enclosing(block)
            own = self.own(block)
            if own is None:
                result = below
            else:
                result = [
                    self.findings.over(top, under) for top in own for under in below
                ]
            self._backgrounds[key] = self.findings.cap(block, result)
        return self._backgrounds[key]

    def enclosing(self, block: Block) -> list[Shade]:
        """What lies behind the rule's elements when it paints nothing."""
        return self._behind(block, self.page.backgrounds)

    def _element_shades(self, selector: str, exclude: Block | None) -> list[Shade]:
        """The element's backgrounds from its rules (but ``exclude``)."""
        outer = ancestor(selector)
        below = self._page_layer() if outer is None else self._element(outer, None)
        always, maybe = self.rules.same_element(selector, exclude, self.own)
        shades = [] if always else list(below)
        shades.extend(
            self.findings.over(top, under)
            for rule in [*always, *maybe]
            for top in self.own(rule) or []
            for under in below
        )
        return shades

    def _page_layer(self) -> list[Shade]:
        if self._page_backgrounds is None:  # the same for every top-level rule
            shades = [
                shade
                for rule in self.rules.page_rules
                if self.own(rule) is not None
                for shade in self.of(rule)
            ]
            self._page_backgrounds = list(
                dict.fromkeys([*self.page.backgrounds, *shades])
            )
        return self._page_backgrounds
