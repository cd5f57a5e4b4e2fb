"""Bundles: price, sale window and themes, saved through the service."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from billing.admin.base import staff_user

from ..models import (
    Bundle,
)
from ..selectors import list_sellable_themes
from ..services.bundles import delete_bundle, save_bundle
from .base import money


class BundleForm(forms.ModelForm):
    class Meta:
        model = Bundle
        fields = [
            "name",
            "description",
            "price_cents",
            "themes",
            "available_from",
            "available_until",
            "licence_days",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        themes = self.fields.get("themes")  # absent from a view-only form
        if isinstance(themes, forms.ModelMultipleChoiceField):
            themes.queryset = list_sellable_themes()

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("available_from"), data.get("available_until")
        if start and end and end <= start:
            raise forms.ValidationError("The sale must end after it starts.")
        return data


@admin.register(Bundle)
class BundleAdmin(admin.ModelAdmin):
    form = BundleForm
    list_display = (
        "name",
        "price",
        "available_from",
        "available_until",
        "licence_days",
    )
    filter_horizontal = ("themes",)

    def save_model(
        self, request: HttpRequest, obj: Bundle, form: forms.ModelForm, change: bool
    ) -> None:
        """Deferred to ``save_related``, which saves the bundle with its themes."""

    def save_related(
        self,
        request: HttpRequest,
        form: forms.ModelForm,
        formsets: list[forms.BaseInlineFormSet],
        change: bool,
    ) -> None:
        save_bundle(
            bundle=form.instance,
            themes=list(form.cleaned_data["themes"]),
            actor=staff_user(request),
        )

    def delete_model(self, request: HttpRequest, obj: Bundle) -> None:
        delete_bundle(bundle=obj, actor=staff_user(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Bundle]) -> None:
        for bundle in queryset:
            delete_bundle(bundle=bundle, actor=staff_user(request))

    @admin.display(description="Price", ordering="price_cents")
    def price(self, obj: Bundle) -> str:
        return money(obj.price_cents)
