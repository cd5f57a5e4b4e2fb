"""The values a declaration can take once var() is replaced, read as colours.

``var()`` takes every value the stylesheet gives the property anywhere
(which rules nest in which is not known), and the fallback unless a page
rule always defines it. A value that cannot be read is reported through
``Findings``, never guessed.
"""

from collections.abc import Iterable
from typing import Any

import tinycss2
from tinycss2.ast import Node
from tinycss2.serializer import serialize_identifier

from ..colours import Rgba, UnreadableColour, composite, read_colour
from .declarations import INHERIT, significant, single_keyword, written
from .elements import RuleIndex, is_page
from .shades import Page, Shade, Unreadable, block_name, describe
from .sheet import Block

MAX_VARIANTS = 16  # values one declaration may take through var()
MAX_SHADES = 16  # text or background colours one rule may end up with
# Colours blended and pairs measured in all: bounds the time a hostile
# stylesheet can take (well under a second); beyond it the check fails.
MAX_WORK = 20_000
_BLOCKS = ("() block", "[] block", "{} block")


class Exhausted(Exception):
    """The stylesheet asked for more colour combinations than are measured."""


class Findings:
    """What could not be read, and the work left before measuring stops."""

    def __init__(self) -> None:
        self.unreadable: dict[tuple[int, str, str], Unreadable] = {}
        self._work_left = MAX_WORK

    def refuse(self, block: Block, declaration: Any, reason: str) -> None:
        text = f"{declaration.name}: {written(declaration.value)}"
        self.unreadable.setdefault(
            (block.line, text, reason),
            Unreadable(
                line=declaration.source_line or block.line,
                selector=block_name(block),
                declaration=text,
                reason=reason,
            ),
        )

    def cap(self, block: Block, shades: list[Shade]) -> list[Shade]:
        """The distinct shades, at most MAX_SHADES; more is reported."""
        shades = list(dict.fromkeys(shades))
        if len(shades) <= MAX_SHADES:
            return shades
        self.unreadable.setdefault(
            (block.line, "", "many"),
            Unreadable(
                line=block.line,
                selector=block_name(block),
                declaration="",
                reason=f"custom properties and nesting give it more than "
                f"{MAX_SHADES} possible colours: simplify them",
            ),
        )
        return shades[:MAX_SHADES]

    def exhausted(self, block: Block) -> None:
        self.unreadable[(block.line, "", "work")] = Unreadable(
            line=block.line,
            selector=block_name(block),
            declaration="",
            reason="from here on the rules were not checked: custom "
            "properties, nesting and translucent colours give more than "
            f"{MAX_WORK} combinations; simplify them",
        )

    def spend(self, work: int) -> None:
        self._work_left -= work
        if self._work_left < 0:
            raise Exhausted

    def over(self, top: Shade, under: Shade) -> Shade:
        """``top`` as it shows painted over ``under`` (blending counts as work)."""
        if top.colour.opaque:
            return top
        if top.colour.alpha == 0:
            return under
        self.spend(1)
        return Shade(
            composite(top.colour, under.colour),
            f"{top.label} over {describe(under, top.origin, shown=False)}",
            top.origin,
            blended=True,
        )


def _var_arguments(function: Node) -> tuple[str, list[Node] | None]:
    """(custom property, fallback or None) of a ``var()``."""
    arguments = list(function.arguments)
    comma = next(
        (i for i, n in enumerate(arguments) if n.type == "literal" and n.value == ","),
        None,
    )
    name_nodes = significant(arguments if comma is None else arguments[:comma])
    if len(name_nodes) != 1 or not _is_custom_property(name_nodes[0]):
        raise UnreadableColour("var() without a custom property name")
    return name_nodes[0].value, None if comma is None else arguments[comma + 1 :]


def _is_custom_property(node: Node) -> bool:
    return node.type == "ident" and node.value.startswith("--")


class Values:
    """Every value a declaration can take, and those values read as colours."""

    def __init__(self, rules: RuleIndex, page: Page, findings: Findings) -> None:
        self.findings = findings
        self._defined_by: dict[str, list[Any]] = {}
        sheet_always: set[str] = set()  # set by a page rule in every case
        for block in rules.rules:
            for declaration in block.declarations:
                name = declaration.name
                if name.startswith("--"):
                    self._defined_by.setdefault(name, []).append(declaration)
                    if is_page(block) and not block.conditions:
                        sheet_always.add(name)
        # The app's own value of a property applies unless always replaced.
        self.app_values = {
            name: value
            for name, value in page.properties.items()
            if name not in sheet_always
        }
        self._always_defined = sheet_always | set(page.properties)
        self._vars: dict[tuple[str, str], list[str] | UnreadableColour] = {}
        self._resolving: set[str] = set()
        self._parsed: dict[str, list[Node]] = {}

    # var() -------------------------------------------------------------------

    def _expand(self, nodes: Iterable[Node]) -> list[str]:
        """Every text a value can take once var() is replaced (deduplicated)."""
        options = [""]
        for node in nodes:
            if node.type == "comment":
                continue
            choices = self._choices(node)
            options = list(dict.fromkeys(o + c for o in options for c in choices))
            if len(options) > MAX_VARIANTS:
                raise UnreadableColour(
                    f"custom properties give it more than {MAX_VARIANTS} possible "
                    "values"
                )
        return options

    def _choices(self, node: Node) -> list[str]:
        """The texts one token can stand for."""
        if node.type == "function" and node.lower_name == "var":
            return self._var(node)
        if node.type == "function":
            name = serialize_identifier(node.name)
            return [f"{name}({inner})" for inner in self._expand(node.arguments)]
        if node.type in _BLOCKS:
            opening, closing = node.type[0], node.type[1]
            return [
                f"{opening}{inner}{closing}" for inner in self._expand(node.content)
            ]
        return [node.serialize()]

    def _var(self, function: Node) -> list[str]:
        name, fallback = _var_arguments(function)
        key = (name, "" if fallback is None else written(fallback) + ",")
        if key not in self._vars:
            if name in self._resolving:
                raise UnreadableColour(f"{name} refers to itself through var()")
            self._vars[key] = self._resolve(name, fallback)
        found = self._vars[key]
        if isinstance(found, UnreadableColour):
            raise found
        return found

    def _resolve(
        self, name: str, fallback: list[Node] | None
    ) -> list[str] | UnreadableColour:
        """The property's values, or why they cannot be read (kept as well)."""
        self._resolving.add(name)
        try:
            values = self._values_of(name, fallback)
        except UnreadableColour as problem:
            return problem
        finally:
            self._resolving.discard(name)
        return list(dict.fromkeys(v.strip() for v in values))

    def _values_of(self, name: str, fallback: list[Node] | None) -> list[str]:
        values: list[str] = []
        if name in self.app_values:
            values.append(self.app_values[name])
        for definition in self._defined_by.get(name, []):
            values.extend(self._expand(definition.value))
        if fallback is not None and name not in self._always_defined:
            values.extend(self._expand(fallback))
        if not values:
            raise UnreadableColour(
                f"{name} is not defined in the stylesheet: define it in :root "
                f"or give a fallback, e.g. var({name}, #1b1f24)"
            )
        return values

    # Reading declarations ----------------------------------------------------

    def options(self, block: Block, declaration: Any) -> list[tuple[str, list[Node]]]:
        """(text as shown, parsed value) for each value var() lets it take."""
        text = written(declaration.value)
        try:
            options = self._expand(declaration.value)
        except UnreadableColour as problem:
            self.findings.refuse(block, declaration, str(problem))
            return []
        shown = []
        for option in options:
            if option not in self._parsed:
                self._parsed[option] = significant(
                    tinycss2.parse_component_value_list(option, skip_comments=True)
                )
            nodes = self._parsed[option]
            resolved = written(nodes)
            label = text if resolved == text else f"{text} = {resolved}"
            shown.append((label, nodes))
        return shown

    def colour(self, block: Block, declaration: Any, nodes: list[Node]) -> Rgba | str:
        """A text colour, "inherit" (currentColor, inherit, unset) or "unreadable"."""
        keyword = single_keyword(nodes)
        if keyword in INHERIT:
            return "inherit"
        if keyword == "initial":
            return Rgba(0, 0, 0)  # CanvasText in the light scheme
        if len(nodes) != 1:
            self.findings.refuse(block, declaration, "not a single colour")
            return "unreadable"
        try:
            colour = read_colour(nodes[0])
        except UnreadableColour as problem:
            self.findings.refuse(block, declaration, str(problem))
            return "unreadable"
        return "inherit" if colour is None else colour
