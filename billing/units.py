"""Units, money and calendar arithmetic shared by every billing rule.

Pure functions, no database: periods are calendar months in UTC, money is
integer cents rounded half-up once per charge line.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

GB = 10**9
MAX_EVENT_QUANTITY = 10**15
# A counter or level never goes past this: the columns are 64-bit.
MAX_USAGE_TOTAL = 10**18
FUTURE_TOLERANCE = timedelta(minutes=5)
WARNING_RATIO = Decimal("0.8")


def to_cents(amount: Decimal) -> int:
    """Round a Decimal amount of cents half-up to a whole cent."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class Period:
    start: date

    @property
    def end(self) -> date:
        """First day of the next month (exclusive)."""
        if self.start.month == 12:
            return date(self.start.year + 1, 1, 1)
        return date(self.start.year, self.start.month + 1, 1)

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def ends_at(self) -> datetime:
        return datetime.combine(self.end, time.min, tzinfo=UTC)

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def previous(self) -> "Period":
        return period_of(self.starts_at - timedelta(days=1))

    def next(self) -> "Period":
        return Period(self.end)

    def __str__(self) -> str:
        return f"{self.start:%Y-%m}"


def period_of(moment: datetime | date) -> Period:
    """The billing period (calendar month, UTC) that contains ``moment``."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return Period(start=moment.replace(day=1))


def parse_period(text: str) -> Period:
    """Parse ``YYYY-MM`` (two-digit month); raises ValueError on anything else."""
    if not re.fullmatch(r"\d{4}-\d{2}", text or ""):
        raise ValueError(f"not a YYYY-MM month: {text!r}")
    parsed = datetime.strptime(text, "%Y-%m")
    return Period(start=date(parsed.year, parsed.month, 1))


def billed_days(starts_at: datetime, ends_at: datetime | None) -> tuple[date, date]:
    """First and last UTC day of a term, for a document's period: a term
    ending at midnight ends the day before; one without an end is billed for
    its first day."""
    start = starts_at.astimezone(UTC).date()
    if ends_at is None:
        return start, start
    last = (ends_at - timedelta(microseconds=1)).astimezone(UTC).date()
    return start, max(start, last)


def day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def format_quantity(amount: int, unit: str) -> str:
    """Human units: GB with one decimal, minutes for seconds, slots as is."""
    if unit == "byte":
        return f"{Decimal(amount) / GB:.1f} GB"
    if unit == "second":
        return f"{Decimal(amount) / 60:.0f} min"
    return f"{amount} slot{'s' if amount != 1 else ''}"


# What a person may write after a number, by meter unit: the base units one
# of it stands for. Case does not matter; no suffix means base units.
_SUFFIXES: dict[str, dict[str, int]] = {
    "byte": {
        "b": 1,
        "byte": 1,
        "bytes": 1,
        "kb": 10**3,
        "mb": 10**6,
        "gb": GB,
        "tb": 10**12,
    },
    "second": {
        "s": 1,
        "sec": 1,
        "secs": 1,
        "second": 1,
        "seconds": 1,
        "min": 60,
        "mins": 60,
        "minute": 60,
        "minutes": 60,
        "h": 3600,
        "hr": 3600,
        "hrs": 3600,
        "hour": 3600,
        "hours": 3600,
    },
    "slot": {"slot": 1, "slots": 1},
}
_EXAMPLES = {
    "byte": '"50 GB" or "500 MB"',
    "second": '"120 min" or "2 h"',
    "slot": '"5 slots"',
}
_QUANTITY = re.compile(
    r"\s*(?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?P<suffix>[a-z]*)\s*",
    re.IGNORECASE,
)


def _suffix_factor(suffix: str, unit: str | None, *, name: str, example: str) -> int:
    """Base units per ``suffix`` ("GB", "min"...); 1 without one."""
    if not suffix:
        return 1
    lowered = suffix.lower()
    tables = [_SUFFIXES[unit]] if unit in _SUFFIXES else list(_SUFFIXES.values())
    factor = next((table[lowered] for table in tables if lowered in table), 0)
    if factor:
        return factor
    if any(lowered in table for table in _SUFFIXES.values()):
        raise ValueError(
            f"{name or 'This meter'} is counted in {unit}s: write an amount"
            f" such as {example}."
        )
    raise ValueError(f'"{suffix}" is not a unit: write an amount such as {example}.')


def parse_quantity(text: str, unit: str | None = None, *, name: str = "") -> int:
    """Read "50 GB", "120 min", "5 slots" or a plain integer (base units).

    ``unit`` is the meter's (byte, second, slot); None accepts any suffix.
    Returns the amount in base units with its sign: the caller judges it.
    Raises ValueError with a message fit for staff; ``name`` (the meter's)
    makes it specific.
    """
    example = _EXAMPLES.get(unit or "", '"50 GB", "120 min" or "5 slots"')
    match = _QUANTITY.fullmatch(text or "")
    if match is None:
        raise ValueError(
            f"Write a number, optionally with a unit ({example}); a plain"
            f" number counts {f'{unit}s' if unit else 'base units'}."
        )
    factor = _suffix_factor(match["suffix"], unit, name=name, example=example)
    amount = Decimal(match["number"]) * factor
    if amount != amount.to_integral_value():
        raise ValueError(f"That is not a whole number of {unit or 'base unit'}s.")
    if abs(amount) > MAX_USAGE_TOTAL:
        raise ValueError("That amount is too large.")
    return int(amount)


def format_quantity_input(amount: int, unit: str) -> str:
    """``amount`` as a person types it, exactly: parse_quantity reads it back.

    The biggest of GB / MB / bytes (minutes / seconds) that shows it as at
    least 1 with at most three decimals, so 500 MB stays "500 MB".
    """
    steps = {"byte": (("GB", GB), ("MB", 10**6)), "second": (("min", 60),)}
    for suffix, size in steps.get(unit, ()):
        value = Decimal(amount) / size
        if abs(value) >= 1 and value == round(value, 3):
            return f"{value.normalize():f} {suffix}"
    if unit == "slot":
        return f"{amount} slot{'s' if amount != 1 else ''}"
    base = {"byte": "B", "second": "s"}.get(unit)
    return f"{amount} {base}" if base else str(amount)


def display_unit(unit: str) -> str:
    """The unit a person reads a meter in: GB, minutes or slots."""
    return {"byte": "GB", "second": "min"}.get(unit, "slots")


def display_amount(amount: int, unit: str) -> float:
    """``amount`` in ``display_unit`` (GB one decimal, whole minutes) for charts."""
    if unit == "byte":
        return round(float(amount) / GB, 1)
    if unit == "second":
        return round(float(amount) / 60)
    return int(amount)


def format_cents(cents: int, currency: str = "USD") -> str:
    sign = "-" if cents < 0 else ""
    symbol = "$" if currency == "USD" else f"{currency} "
    return f"{sign}{symbol}{abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def split_by_weights(*, total_cents: int, weights: Sequence[int]) -> list[int]:
    """Share ``total_cents`` in proportion to ``weights`` (list prices, line totals).

    Largest-remainder allocation: each part is floored, and the cents left
    over go to the largest remainders (earliest first on ties), so the parts
    always add up to the total. All-zero weights share equally.
    """
    if not weights:
        raise ValueError("Nothing to split between.")
    if any(w < 0 for w in weights):
        raise ValueError("Weights are list prices: never negative.")
    if sum(weights) == 0:
        weights = [1] * len(weights)
    whole = sum(weights)
    parts = [total_cents * w // whole for w in weights]
    remainders = [total_cents * w % whole for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[: total_cents - sum(parts)]:
        parts[i] += 1
    return parts


def format_percent(rate: Decimal) -> str:
    """19.00 -> "19", 5.50 -> "5.5": a rate as people write it."""
    return f"{rate.normalize():f}"
