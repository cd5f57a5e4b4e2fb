"""Reading declarations: their text, the one that wins each slot, font sizes."""

from collections.abc import Iterable
from typing import Any

import tinycss2
from tinycss2.ast import Node

from .sheet import Block

# Keywords that take the enclosing element's value.
INHERIT = frozenset({"inherit", "unset", "revert", "revert-layer"})

# The slots each property fills: a shorthand fills several.
_FILLS = {
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


def written(nodes: Iterable[Node]) -> str:
    """The value as written, comments dropped and whitespace collapsed."""
    text = tinycss2.serialize(n for n in nodes if n.type != "comment")
    return " ".join(text.split())


def significant(nodes: Iterable[Node]) -> list[Node]:
    return [n for n in nodes if n.type not in ("whitespace", "comment")]


def single_keyword(nodes: list[Node]) -> str | None:
    """The value's keyword when it is one alone (``inherit``, ``initial``)."""
    if len(nodes) == 1 and nodes[0].type == "ident":
        return str(nodes[0].lower_value)
    return None


def winning(block: Block) -> dict[str, Any]:
    """The declaration that wins each colour slot: ``!important``, then last."""
    slots: dict[str, Any] = {}
    for declaration in block.declarations:
        for slot in _FILLS.get(declaration.lower_name, ()):
            held = slots.get(slot)
            if held is None or declaration.important or not held.important:
                slots[slot] = declaration
    return slots


def font_size(declaration: Any) -> float | None:
    """The size in px a ``font-size`` or ``font`` sets; None: not known here.

    em, % and calc() resolve against sizes this check does not know.
    """
    for node in significant(declaration.value):
        if node.type == "dimension" and node.lower_unit in _FONT_UNIT_PX:
            return float(node.value) * _FONT_UNIT_PX[node.lower_unit]
        if node.type == "ident" and node.lower_value in _FONT_KEYWORD_PX:
            return _FONT_KEYWORD_PX[node.lower_value]
        if node.type == "literal" and node.value == "/":
            break  # the line height follows
    return None


def font_bold(declaration: Any) -> bool | None:
    """Whether a ``font-weight`` or ``font`` makes text bold; None: unknown.

    The ``font`` shorthand without a weight resets it to normal.
    """
    for node in significant(declaration.value):
        if node.type in ("dimension", "percentage"):
            break  # the size: the weight comes before it
        weight = _weight(node)
        if weight is not None:
            return weight
    return False if declaration.lower_name == "font" else None


def _weight(node: Node) -> bool | None:
    if node.type == "ident" and node.lower_value == "bold":
        return True
    if node.type == "number" and node.is_integer and 1 <= node.value <= 1000:
        return bool(node.value >= 700)
    return None
