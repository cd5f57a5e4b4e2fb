"""The automated gates a theme passes before review: performance and accessibility.

Pure functions, no database. The stylesheet is parsed with tinycss2 (never
regular expressions) and walked once into a ``Sheet`` summary (``sheet``);
every check reads that summary and the design tokens (``performance``,
``accessibility``). URLs and @import are found on the whole token tree by
``store.css_urls``, whatever rules they sit in; the colour pairs the rules
set are found and measured by ``contrast``. Each check reports the measured
value, the threshold and how to fix a failure, so the creator's report is
readable check by check.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from .accessibility import NON_TEXT_CONTRAST, TEXT_CONTRAST, accessibility_checks
from .performance import (
    MAX_GZIPPED_BYTES,
    MAX_IMAGE_BYTES,
    MAX_IMAGES,
    MAX_MINIFIED_BYTES,
    performance_checks,
)
from .results import ACCESSIBILITY, PERFORMANCE, CheckResult
from .sheet import parse_sheet
from .tokens import STATUS_COLOURS, TOKENS

__all__ = [
    "ACCESSIBILITY",
    "MAX_GZIPPED_BYTES",
    "MAX_IMAGES",
    "MAX_IMAGE_BYTES",
    "MAX_MINIFIED_BYTES",
    "NON_TEXT_CONTRAST",
    "PERFORMANCE",
    "STATUS_COLOURS",
    "TEXT_CONTRAST",
    "TOKENS",
    "CheckResult",
    "all_passed",
    "run_checks",
]


def run_checks(
    *, css: str, tokens: dict[str, str], image_sizes: Sequence[int] = ()
) -> list[CheckResult]:
    """Every gate, in report order: performance first, then accessibility."""
    sheet = parse_sheet(css)
    return performance_checks(sheet, image_sizes) + accessibility_checks(sheet, tokens)


def all_passed(results: Iterable[CheckResult | dict[str, Any]]) -> bool:
    return all(r["passed"] if isinstance(r, dict) else r.passed for r in results)
