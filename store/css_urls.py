"""Find every way a theme stylesheet can name a URL or pull in another sheet.

Themes run on pages that hold CSRF tokens and billing data. A selector such as
``input[value^="a"]`` plus a fetch of the attacker's URL leaks them a
character at a time, so a theme may name no URL except an inline ``data:``
image or font.

The scan reads the token tree that tinycss2 builds the way a browser
tokenises (CSS Syntax 3: comments, escapes, case and unclosed constructs at
EOF included), not the rules. The rule parser only groups these tokens, so
nothing can hide in a nested rule, an at-rule prelude or an at-rule this
module has never heard of.
"""

import re
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tinycss2.ast import Node

# Functions whose arguments name URLs (bare strings included), unprefixed.
URL_FUNCTIONS = frozenset({"url", "src", "image-set", "image", "cross-fade", "element"})
# Functions that put in a value from elsewhere, a URL as easily as a colour.
_SUBSTITUTIONS = frozenset({"var", "attr", "env", "if", "inherit"})
# What may sit inside a URL function without naming or carrying a URL; an
# unknown function there is refused, so a new CSS feature fails closed.
_INERT = frozenset(
    {
        *("type", "cross-origin", "integrity", "referrer-policy"),
        *("calc", "min", "max", "clamp"),
        *("rgb", "rgba", "hsl", "hsla", "hwb", "lab", "lch", "oklab", "oklch"),
        *("color", "color-mix", "light-dark"),
    }
)
_DATA_TYPES = ("image/", "font/", "application/font-", "application/x-font-")
# A scheme followed by the rest of a URL: "Note: see below" is prose.
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:\S", re.IGNORECASE)
_VENDOR_PREFIX = re.compile(r"^-[a-z]+-(?=[a-z])")
_URL_PARSER_DROPS = str.maketrans("", "", "\t\n\r")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_BLOCKS = ("() block", "[] block", "{} block")
_EXCERPT_CHARS = 60

FIX = (
    "Inline images and fonts as data: URLs (they count towards the size "
    "budget) or use system fonts. Custom properties, attr() and env() may not "
    "hold URLs, nor feed url(), src(), image-set() or image()."
)


@dataclass(frozen=True, slots=True)
class UrlFinding:
    line: int
    excerpt: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.excerpt} ({self.reason})"


def find_urls(tokens: Iterable[Node]) -> list[UrlFinding]:
    """Every URL a token tree names or lets in; a refused function counts once."""
    return list(_scan(tokens))


def deepest_nesting(tokens: Iterable[Node]) -> tuple[int, int]:
    """(depth, line) of the most deeply nested block or function.

    Iterative, unlike the walks, so a sheet of 5,000 ``(`` is measured and
    refused rather than exhausting the recursion limit mid-check.
    """
    deepest, line = 0, 1
    stack = [(node, 1) for node in tokens]
    while stack:
        node, depth = stack.pop()
        children = _children(node)
        if children and depth > deepest:
            deepest, line = depth, node.source_line
        stack.extend((child, depth + 1) for child in children)
    return deepest, line


def find_imports(tokens: Iterable[Node]) -> list[int]:
    """Source lines of ``@import`` at any depth (browsers honour the top one)."""
    lines: list[int] = []
    for node in tokens:
        if node.type == "at-keyword" and node.lower_value == "import":
            lines.append(node.source_line)
        lines.extend(find_imports(_children(node)))
    return lines


def is_inline_data(value: str) -> bool:
    """A ``data:`` image or font, read as the URL and data: URL parsers do."""
    text = _as_url(value).translate(_ASCII_LOWER)  # as the parsers fold case
    return text.startswith("data:") and text[5:].lstrip().startswith(_DATA_TYPES)


def _as_url(value: str) -> str:
    """The URL parser drops tabs and newlines anywhere, and trims both ends."""
    return value.translate(_URL_PARSER_DROPS).strip(_C0_AND_SPACE)


def _leaves_document(value: str) -> bool:
    """An absolute or protocol-relative URL (``//host`` or ``\\\\host``)."""
    text = _as_url(value)
    if is_inline_data(text):
        return False
    return bool(_SCHEME.match(text)) or (
        text[:1] in ("/", "\\") and text[1:2] in ("/", "\\")
    )


def _unprefixed(name: str) -> str:
    return _VENDOR_PREFIX.sub("", name, count=1)


def _children(node: Node) -> list[Node]:
    if node.type in _BLOCKS:
        return node.content
    if node.type == "function":
        return node.arguments
    return []


def _finding(node: Node, reason: str) -> UrlFinding:
    text = "url(" if node.type == "error" else " ".join(node.serialize().split())
    if len(text) > _EXCERPT_CHARS:
        text = text[: _EXCERPT_CHARS - 1] + "…"
    return UrlFinding(line=node.source_line, excerpt=text, reason=reason)


def _scan(nodes: Iterable[Node]) -> Iterator[UrlFinding]:
    for node in nodes:
        kind = node.type
        if kind == "url":
            if not is_inline_data(node.value):
                yield _finding(node, "not a data: image or font")
        elif kind == "error" and node.kind == "bad-url":
            yield _finding(node, "malformed url(), cannot be checked")
        elif kind == "string":
            if _leaves_document(node.value):
                yield _finding(node, "a URL in a string")
        elif kind == "function" and (problem := _function_problem(node)):
            yield _finding(node, problem)  # reported whole, not again inside
        else:
            yield from _scan(_children(node))


def _function_problem(function: Node) -> str | None:
    name = _unprefixed(function.lower_name)
    if name == "attr" and _typed_as_url(function.arguments):
        return "attr() typed as a URL"
    if name not in URL_FUNCTIONS:
        return None
    problem = _argument_problem(function.arguments, strings_are_urls=True)
    if problem is None and name in ("url", "src"):
        first = next(
            (n for n in function.arguments if n.type not in ("whitespace", "comment")),
            None,
        )
        if first is None or first.type != "string":
            problem = f"{name}() without a quoted data: URL"
    return problem


def _argument_problem(nodes: Iterable[Node], *, strings_are_urls: bool) -> str | None:
    """Why the arguments of a URL function could name a non-data: URL, if so.

    Nested URL functions are left to the scan, which checks them on their own.
    """
    for node in nodes:
        problem = _node_problem(node, strings_are_urls=strings_are_urls)
        if problem:
            return problem
    return None


def _node_problem(node: Node, *, strings_are_urls: bool) -> str | None:
    if node.type == "string":
        if strings_are_urls and not is_inline_data(node.value):
            return "names a URL other than a data: image or font"
        return None
    if node.type in _BLOCKS:
        return _argument_problem(node.content, strings_are_urls=strings_are_urls)
    if node.type == "function":
        return _inner_function_problem(node)
    return None


def _inner_function_problem(function: Node) -> str | None:
    """Why a function inside a URL function's arguments could carry a URL."""
    name = _unprefixed(function.lower_name)
    if name in _SUBSTITUTIONS or name.startswith("--"):
        return f"{function.name}() can carry a URL in"
    if name in URL_FUNCTIONS:
        return None
    if name not in _INERT and not name.endswith("gradient"):
        return f"{function.name}() is not allowed in a URL function"
    return _argument_problem(function.arguments, strings_are_urls=False)


def _typed_as_url(arguments: Iterable[Node]) -> bool:
    """Typed attr(): ``attr(x type(<url>))``, or the old ``attr(x url)``."""
    return any(
        (node.type == "function" and node.lower_name == "type")
        or (node.type == "ident" and node.lower_value == "url")
        for node in arguments
    )
