"""What the store's admin pages share with the billing admin's, and the
store's own reason form (its reason goes to the creator)."""

from django import forms

from billing.admin.base import ReadOnlyAdmin, confirm_with_reason, money

__all__ = ["ReadOnlyAdmin", "ReasonForm", "confirm_with_reason", "money"]


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        help_text="Shown to the creator with the decision.",
        widget=forms.TextInput(attrs={"size": 60}),
    )
