"""Units, money and calendar arithmetic shared by every billing rule.

Pure functions, no database: periods are calendar months in UTC, money is
integer cents rounded half-up once per charge line.
"""

import re
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


def day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def format_quantity(amount: int, unit: str) -> str:
    """Human units: GB with one decimal, minutes for seconds, slots as is."""
    if unit == "byte":
        return f"{Decimal(amount) / GB:.1f} GB"
    if unit == "second":
        return f"{Decimal(amount) / 60:.0f} min"
    return f"{amount} slot{'s' if amount != 1 else ''}"


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
