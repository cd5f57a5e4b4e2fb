"""What a check reports: its measured value, the threshold and how to fix it."""

from dataclasses import asdict, dataclass, field
from typing import Any

PERFORMANCE = "performance"
ACCESSIBILITY = "accessibility"


@dataclass(frozen=True, slots=True)
class CheckResult:
    code: str
    category: str
    title: str
    passed: bool
    measured: str
    threshold: str
    fix: str
    details: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def capped(lines: list[str], limit: int = 20) -> list[str]:
    """At most ``limit`` detail lines, then how many more there are."""
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"… and {len(lines) - limit} more"]
