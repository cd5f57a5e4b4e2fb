"""Performance gates: parse errors, size, rule count, @import, URLs, images."""

import gzip
from collections.abc import Sequence

from .. import css_urls
from .results import PERFORMANCE, CheckResult
from .sheet import Sheet

KB = 1024
MAX_MINIFIED_BYTES = 50 * KB
MAX_GZIPPED_BYTES = 15 * KB
MAX_RULES = 500
MAX_SELECTORS = 1000
MAX_IMAGE_BYTES = 300 * KB
MAX_IMAGES = 4


def _size(n: int) -> str:
    return f"{n / KB:.1f} KB" if n >= KB else f"{n} B"


def performance_checks(sheet: Sheet, image_sizes: Sequence[int]) -> list[CheckResult]:
    return [
        _syntax_check(sheet),
        *_size_checks(sheet),
        _rule_count_check(sheet),
        _import_check(sheet),
        _remote_urls_check(sheet),
        _preview_images_check(image_sizes),
    ]


def _syntax_check(sheet: Sheet) -> CheckResult:
    return CheckResult(
        code="syntax",
        category=PERFORMANCE,
        title="Stylesheet parses cleanly",
        passed=not sheet.errors,
        measured=f"{len(sheet.errors)} parse error(s)",
        threshold="no parse errors",
        fix="Fix the reported lines: browsers drop rules they cannot parse.",
        details=sheet.errors[:20],
    )


def _size_checks(sheet: Sheet) -> list[CheckResult]:
    minified = len(sheet.minified.encode())
    gzipped = len(gzip.compress(sheet.minified.encode(), mtime=0))
    return [
        CheckResult(
            code="size_minified",
            category=PERFORMANCE,
            title="Stylesheet size, minified",
            passed=minified <= MAX_MINIFIED_BYTES,
            measured=_size(minified),
            threshold=f"at most {_size(MAX_MINIFIED_BYTES)}",
            fix="Remove unused rules and large embedded data: URIs; "
            "override the design tokens instead of restyling every component.",
        ),
        CheckResult(
            code="size_gzipped",
            category=PERFORMANCE,
            title="Stylesheet size, gzipped",
            passed=gzipped <= MAX_GZIPPED_BYTES,
            measured=_size(gzipped),
            threshold=f"at most {_size(MAX_GZIPPED_BYTES)}",
            fix="Embedded fonts and images compress poorly: drop or shrink them.",
        ),
    ]


def _rule_count_check(sheet: Sheet) -> CheckResult:
    return CheckResult(
        code="rule_count",
        category=PERFORMANCE,
        title="Number of rules and selectors",
        passed=sheet.rules <= MAX_RULES and sheet.selectors <= MAX_SELECTORS,
        measured=f"{sheet.rules} rules, {sheet.selectors} selectors",
        threshold=f"at most {MAX_RULES} rules and {MAX_SELECTORS} selectors",
        fix="Merge duplicate rules and rely on the CSS custom properties.",
    )


def _import_check(sheet: Sheet) -> CheckResult:
    return CheckResult(
        code="no_import",
        category=PERFORMANCE,
        title="No @import",
        passed=not sheet.imports,
        measured=f"{len(sheet.imports)} @import rule(s)",
        threshold="none",
        fix="Paste the imported CSS into the stylesheet: each @import is "
        "another blocking request.",
        details=[f"line {line}" for line in sheet.imports],
    )


def _remote_urls_check(sheet: Sheet) -> CheckResult:
    return CheckResult(
        code="no_remote_urls",
        category=PERFORMANCE,
        title="No remote or external URLs",
        passed=not sheet.urls,
        measured=f"{len(sheet.urls)} external URL(s)",
        threshold="none (only data: images and fonts)",
        fix=css_urls.FIX,
        details=[str(finding) for finding in sheet.urls[:20]],
    )


def _preview_images_check(image_sizes: Sequence[int]) -> CheckResult:
    largest = max(image_sizes, default=0)
    return CheckResult(
        code="preview_images",
        category=PERFORMANCE,
        title="Preview images",
        passed=largest <= MAX_IMAGE_BYTES and len(image_sizes) <= MAX_IMAGES,
        measured=(
            f"{len(image_sizes)} image(s), largest {_size(largest)}"
            if image_sizes
            else "no images"
        ),
        threshold=f"at most {MAX_IMAGES} images of {_size(MAX_IMAGE_BYTES)} each",
        fix="Export previews as compressed WebP or JPEG at 1280 px wide or less.",
    )
