"""The stylesheet walked once into a ``Sheet``: its blocks, counts and errors.

Parsed with tinycss2, never regular expressions. URLs and @import are found
on the whole token tree by ``css_urls``, whatever rules they sit in.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import tinycss2
from tinycss2.ast import Node
from tinycss2.serializer import serialize_identifier

from .. import css_urls

MAX_NESTING = 64  # blocks and functions; the walks below recurse per level

_GROUPING_AT_RULES = {"media", "supports", "layer", "container", "scope"}
_BLOCKS = ("() block", "[] block", "{} block")


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
            css_text(d.value).lower() for d in self.declarations if d.lower_name == name
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


def css_text(nodes: Iterable[Node]) -> str:
    """Serialise tokens without comments, whitespace collapsed (a minifier)."""
    parts: list[str] = []
    for node in nodes:
        kind = node.type
        if kind == "comment":
            continue
        if kind == "whitespace":
            if parts and parts[-1] != " ":
                parts.append(" ")
        elif kind in _BLOCKS:
            opening = kind[0]
            closing = kind[1]
            parts.append(f"{opening}{css_text(node.content).strip()}{closing}")
        elif kind == "function":
            inner = css_text(node.arguments).strip()
            parts.append(f"{serialize_identifier(node.name)}({inner})")
        else:
            parts.append(node.serialize())
    return "".join(parts)


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
            if not css_text(item.value).strip():
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


def _minified_body(declarations: list[Any]) -> str:
    return ";".join(f"{d.name}:{css_text(d.value).strip()}" for d in declarations)


@dataclass(frozen=True, slots=True)
class _Place:
    """Where the walk is: enclosing at-rules, keyframes, the enclosing rule."""

    conditions: tuple[str, ...] = ()
    in_keyframes: bool = False
    parent: Block | None = None


def _walk(nodes: Iterable[Node], sheet: Sheet, place: _Place = _Place()) -> list[str]:
    """Fill ``sheet`` from rules; return their minified text."""
    out: list[str] = []
    for node in nodes:
        if node.type == "error":
            sheet.errors.append(_error(node))
        elif node.type == "qualified-rule":
            out.append(_walk_rule(node, sheet, place))
        elif node.type == "at-rule":
            out.append(_walk_at_rule(node, sheet, place))
    return out


def _walk_rule(node: Node, sheet: Sheet, place: _Place) -> str:
    selector = css_text(node.prelude).strip()
    declarations, nested = _declarations(node.content, sheet)
    block = Block(
        selector=selector,
        prelude=list(node.prelude),
        conditions=place.conditions,
        declarations=declarations,
        line=node.source_line,
        parent=place.parent,
    )
    if not place.in_keyframes:
        sheet.rules += 1
        sheet.selectors += len(_split_selectors(node.prelude))
        sheet.blocks.append(block)
    inside = _Place(place.conditions, place.in_keyframes, block)
    inner = "".join(_walk(nested, sheet, inside))
    return f"{selector}{{{_minified_body(declarations)}{inner}}}"


def _walk_at_rule(node: Node, sheet: Sheet, place: _Place) -> str:
    keyword = node.lower_at_keyword
    prelude = css_text(node.prelude).strip()
    head = f"@{keyword} {prelude}".strip()
    if node.content is None:
        return f"{head};"
    keyframes = keyword.endswith("keyframes")
    if keyword in _GROUPING_AT_RULES or keyframes:
        rules = tinycss2.parse_rule_list(
            node.content, skip_comments=True, skip_whitespace=True
        )
        inside = _Place(
            (*place.conditions, head), place.in_keyframes or keyframes, place.parent
        )
        inner = "".join(_walk(rules, sheet, inside))
    else:  # @font-face, @page, @property: a declaration block
        declarations, _ = _declarations(node.content, sheet)
        sheet.blocks.append(
            Block(
                selector=f"@{keyword}",
                prelude=[],
                conditions=place.conditions,
                declarations=declarations,
                line=node.source_line,
            )
        )
        inner = _minified_body(declarations)
    return f"{head}{{{inner}}}"
