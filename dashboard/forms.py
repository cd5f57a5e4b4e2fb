"""Forms of the dashboard: input parsing only; services decide."""

import secrets
from decimal import Decimal

from django import forms

HISTORY_RANGES = (30, 90, 180)
MAX_CAP = Decimal("100000.00")


def new_token() -> str:
    """A purchase form's idempotency token: one purchase however often it is sent."""
    return secrets.token_urlsafe(24)


class TokenForm(forms.Form):
    token = forms.CharField(min_length=16, max_length=64, widget=forms.HiddenInput)


class ConsentForm(forms.Form):
    SCOPES = [
        ("period", "This billing period only"),
        ("recurring", "This period and every later one, until I revoke it"),
    ]

    meter = forms.CharField(widget=forms.HiddenInput)
    cap = forms.DecimalField(
        label="Spending cap",
        min_value=Decimal("0.01"),
        max_value=MAX_CAP,
        max_digits=8,
        decimal_places=2,
        help_text="The most overage you agree to pay for this meter in a period.",
    )
    scope = forms.ChoiceField(
        choices=SCOPES, widget=forms.RadioSelect, initial="period", label="For"
    )

    @property
    def cap_cents(self) -> int:
        return int(self.cleaned_data["cap"] * 100)

    @property
    def recurring(self) -> bool:
        return self.cleaned_data["scope"] == "recurring"


class MeterFilterForm(forms.Form):
    meter = forms.ChoiceField(required=False, label="Covers")

    def __init__(self, *args, meters=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["meter"].choices = [("", "All meters")] + [
            (m.code, m.name) for m in meters
        ]


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

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start > end:
                raise forms.ValidationError("The start date is after the end date.")
            if (end - start).days >= self.MAX_DAYS:
                raise forms.ValidationError("Choose a range of at most two years.")
        return data
