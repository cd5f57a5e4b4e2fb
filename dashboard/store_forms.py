"""Forms of the theme store pages: input parsing only; store services decide."""

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from store.checks import MAX_IMAGES, TOKENS
from store.models import Theme
from store.services.themes import (
    MAX_PRICE_CENTS,
    MAX_STYLESHEET_BYTES,
    MAX_UPLOAD_BYTES,
    ImageUpload,
    ThemeContent,
)

from .forms import MONEY_HELP, MoneyField

DEFAULT_TOKENS = {
    "bg": "#f6f7f9",
    "surface": "#ffffff",
    "text": "#1b1f24",
    "muted": "#55606e",
    "accent": "#1d4ed8",
    "focus": "#b45309",
}


class MultipleImageInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """Zero or more uploaded files (Django's documented multiple-upload recipe)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget",
            MultipleImageInput(
                attrs={"accept": "image/png,image/jpeg,image/webp,image/gif"}
            ),
        )
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data if d]
        return [single(data, initial)] if data else []


class ThemeForm(forms.Form):
    name = forms.CharField(max_length=80)
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    price = MoneyField(
        label="Price (USD)",
        min_cents=0,
        max_cents=MAX_PRICE_CENTS,
        what="price",
        initial=0,
        help_text=f"{MONEY_HELP} 0 makes the theme free.",
    )
    css = forms.CharField(
        label="Stylesheet",
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 14, "spellcheck": "false", "class": "code"}
        ),
        help_text="Paste CSS here, or upload a file below.",
    )
    css_file = forms.FileField(
        label="…or upload a .css file",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".css,text/css"}),
    )
    images = MultipleImageField(
        label="Preview images (optional)",
        required=False,
        help_text="PNG, JPEG, WebP or GIF; up to 4 images of 300 KB each.",
    )

    def __init__(self, *args: Any, images: list | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, label in TOKENS.items():
            self.fields[name] = forms.CharField(
                label=label,
                initial=DEFAULT_TOKENS[name],
                max_length=7,
                widget=forms.TextInput(attrs={"type": "color"}),
            )
        if images:
            self.fields["remove_images"] = forms.MultipleChoiceField(
                label="Remove images",
                required=False,
                choices=[
                    (str(i.pk), i.alt or f"Image {n}") for n, i in enumerate(images, 1)
                ],
                widget=forms.CheckboxSelectMultiple,
            )

    @classmethod
    def for_theme(
        cls, theme: Theme, data: Any = None, files: Any = None
    ) -> "ThemeForm":
        initial = {
            "name": theme.name,
            "description": theme.description,
            "price": theme.price_cents,
            "css": theme.css,
            **theme.tokens,
        }
        return cls(data, files, initial=initial, images=list(theme.images.all()))

    @property
    def token_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in TOKENS]

    @property
    def main_fields(self) -> list[forms.BoundField]:
        return [f for f in self.visible_fields() if f.name not in TOKENS]

    def clean_images(self) -> list[UploadedFile]:
        """Sizes come from the upload's metadata: nothing is read here."""
        images = self.cleaned_data.get("images") or []
        if len(images) > MAX_IMAGES:
            raise forms.ValidationError(f"Upload at most {MAX_IMAGES} images.")
        # The service's own limit, checked here from the size the upload
        # declares so that an oversized file is never read into memory.
        too_big = [f.name for f in images if f.size > MAX_UPLOAD_BYTES]
        if too_big:
            raise forms.ValidationError(
                f"{', '.join(too_big)}: each image can be at most "
                f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB. Nothing was saved."
            )
        return images

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        upload = data.get("css_file")
        if upload:
            if upload.size > MAX_STYLESHEET_BYTES:  # not read: see clean_images
                self.add_error(
                    "css_file",
                    f"Upload at most {MAX_STYLESHEET_BYTES // 1024} KB of CSS.",
                )
            else:
                try:
                    data["css"] = upload.read().decode("utf-8")
                except UnicodeDecodeError:
                    self.add_error("css_file", "The file is not UTF-8 text.")
        if not (data.get("css") or "").strip() and not self.has_error("css_file"):
            self.add_error("css", "Paste a stylesheet or upload a .css file.")
        return data

    def content(self) -> ThemeContent:
        data = self.cleaned_data
        return ThemeContent(
            name=data["name"],
            description=data["description"],
            price_cents=data["price"],
            css=data["css"],
            tokens={name: data[name] for name in TOKENS},
        )

    def uploads(self) -> list[ImageUpload]:
        return [
            ImageUpload(data=f.read(), alt=f.name.rsplit(".", 1)[0][:150])
            for f in self.cleaned_data["images"]
        ]

    def removed_image_ids(self) -> list[int]:
        return [int(pk) for pk in self.cleaned_data.get("remove_images", [])]

    def add_service_errors(self, details: dict[str, str]) -> None:
        """Show an InvalidTheme's field messages next to their fields."""
        for field, message in details.items():
            self.add_error(field if field in self.fields else None, message)


class ApplyForm(forms.Form):
    theme = forms.CharField(
        widget=forms.HiddenInput, help_text='A theme id or "default".'
    )

    @property
    def theme_id(self) -> int | None:
        value = self.cleaned_data["theme"]
        return None if value == "default" else int(value)

    def clean_theme(self) -> str:
        value = self.cleaned_data["theme"]
        if value != "default" and not value.isdigit():
            raise forms.ValidationError("Choose a theme.")
        return value
