"""Forms of the dashboard: input parsing only; services decide."""

import re
import secrets
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, cast

from django import forms
from django.conf import settings
from django_countries import countries

from billing.models import Meter
from billing.services.consents import MAX_CAP_CENTS, MIN_CAP_CENTS
from billing.units import format_cents

HISTORY_RANGES = (30, 90, 180)

MONEY_HELP = "In dollars, e.g. 25 or 25.50; a leading $ and commas (1,000) are fine."
# Digits with an optional point and decimals; a leading "$" and thousands
# commas in groups of three. ASCII only: "\d" would also take other scripts'
# digits. Exponents, NaN, Infinity, "+" and inner spaces never match.
_AMOUNT = re.compile(
    r"\$?(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.(?P<decimals>[0-9]*))?"
)


class MoneyField(forms.Field):
    """An amount of money typed in dollars, cleaned to integer cents.

    Exactly one message per problem, in the order: missing, not a plain
    amount, more than two decimals, out of range. A negative amount is
    reported as out of range (every minimum here is at least 0). The
    widget is a text input so the value typed comes back as typed.
    """

    widget = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})
    default_error_messages = {
        "required": "Enter an amount, e.g. 25.00.",
        "invalid": "Enter the amount as a plain number of dollars, e.g. 25 or 25.50.",
        "decimals": "Use at most two decimals (cents).",
        "range": "The %(what)s must be between %(min)s and %(max)s.",
    }

    def __init__(
        self, *, min_cents: int, max_cents: int, what: str, **kwargs: Any
    ) -> None:
        self.min_cents, self.max_cents, self.what = min_cents, max_cents, what
        kwargs.setdefault("help_text", MONEY_HELP)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        """Cents (int) or dollars (Decimal) as "25.00"; typed text as typed."""
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value // 100}.{value % 100:02d}"
        if isinstance(value, Decimal) and value.is_finite():
            return f"{value:.2f}"
        return value

    def to_python(self, value: Any) -> int | None:
        text = str(value).strip() if value is not None else ""
        if not text:
            return None
        negative = text.startswith("-")
        match = _AMOUNT.fullmatch(text[1:] if negative else text)
        if match is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        decimals = match["decimals"] or ""
        if len(decimals) > 2:
            raise forms.ValidationError(
                self.error_messages["decimals"], code="decimals"
            )
        dollars = match["whole"].replace(",", "").lstrip("0")
        # Judged on the text first: a pasted million-digit number is simply
        # out of range, never an int() or Decimal overflow.
        too_long = len(dollars) > len(str(self.max_cents))
        cents = 0 if too_long else int(dollars or "0") * 100 + int(f"{decimals:0<2}")
        if negative or too_long or not self.min_cents <= cents <= self.max_cents:
            currency = settings.BILLING_CURRENCY
            raise forms.ValidationError(
                self.error_messages["range"],
                code="range",
                params={
                    "what": self.what,
                    "min": format_cents(self.min_cents, currency),
                    "max": format_cents(self.max_cents, currency),
                },
            )
        return cents


def new_token() -> str:
    """A purchase form's idempotency token: one purchase however often it is sent."""
    return secrets.token_urlsafe(24)


class TokenForm(forms.Form):
    token = forms.CharField(min_length=16, max_length=64, widget=forms.HiddenInput)
    # The total the confirmation page showed, tax included, in cents: the
    # service charges nothing if the price or the buyer's tax has changed
    # since.
    price_cents = forms.IntegerField(
        min_value=0, required=False, widget=forms.HiddenInput
    )

    @property
    def shown_price_cents(self) -> int | None:
        return self.cleaned_data.get("price_cents")


class ConsentForm(forms.Form):
    SCOPES = [
        ("period", "This billing period only"),
        ("recurring", "This period and every later one, until I revoke it"),
    ]

    meter = forms.CharField(widget=forms.HiddenInput)
    # The overage already used that the user was shown this cap would bill
    # (cents); the service asks again if the change would bill more.
    acknowledged = forms.IntegerField(
        widget=forms.HiddenInput, required=False, min_value=0, initial=0
    )
    cap = MoneyField(
        label="Spending cap",
        min_cents=MIN_CAP_CENTS,
        max_cents=MAX_CAP_CENTS,
        what="cap",
    )
    scope = forms.ChoiceField(
        choices=SCOPES,
        widget=forms.RadioSelect,
        initial="period",
        label="For",
        error_messages={
            "required": "Choose how long the consent lasts.",
            "invalid_choice": "Choose how long the consent lasts.",
        },
    )

    # Set when the service asks to confirm a cap that bills overage already
    # used: the amount, which the page names and the form then acknowledges.
    newly_billable_cents: int | None = None

    @property
    def needs_confirmation(self) -> bool:
        return self.newly_billable_cents is not None

    @property
    def cap_cents(self) -> int:
        return self.cleaned_data["cap"]

    @property
    def recurring(self) -> bool:
        return self.cleaned_data["scope"] == "recurring"

    @property
    def acknowledged_cents(self) -> int:
        return self.cleaned_data.get("acknowledged") or 0


class MeterFilterForm(forms.Form):
    meter = forms.ChoiceField(required=False, label="Covers")

    def __init__(self, *args: Any, meters: Iterable[Meter] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ChoiceField, self.fields["meter"])
        field.choices = [("", "All meters")] + [(m.code, m.name) for m in meters]


def history_range(value: str | None) -> int:
    """The chart range in days; anything unexpected falls back to 30."""
    try:
        days = int(value or 30)
    except ValueError:
        return 30
    return days if days in HISTORY_RANGES else 30


class DateRangeForm(forms.Form):
    """The staff pages' date range; by default the last 30 days."""

    MAX_DAYS = 731

    start = forms.DateField(
        label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))
    grain = forms.ChoiceField(
        label="Per",
        choices=[("day", "Day"), ("month", "Month")],
        required=False,
        initial="day",
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start > end:
                raise forms.ValidationError("The start date is after the end date.")
            if (end - start).days >= self.MAX_DAYS:
                raise forms.ValidationError("Choose a range of at most two years.")
        return data


class BillingDetailsForm(forms.Form):
    """Who documents are addressed to; ``save_billing_details`` judges it."""

    legal_name = forms.CharField(
        label="Legal name",
        max_length=200,
        error_messages={"required": "Give the legal name your documents are for."},
    )
    address = forms.CharField(
        label="Address",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Street, postcode and city, one per line.",
    )
    country = forms.ChoiceField(
        label="Country",
        required=False,
        help_text="Without one, the seller's country rate applies.",
    )
    vat_id = forms.CharField(
        label="VAT id",
        required=False,
        max_length=20,
        help_text="Businesses: with its country prefix, e.g. DE123456789.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ChoiceField, self.fields["country"])
        field.choices = [("", "No country"), *countries]


def year_choice(value: str | None) -> int | None:
    """The document list's year filter: a plausible year, else every year."""
    text = (value or "").strip()
    if len(text) == 4 and text.isascii() and text.isdigit():
        year = int(text)
        # The filter's range ends on the next 1 January: 9999 has none.
        return year if 1970 <= year < 9999 else None
    return None
