"""Staff admin for people and companies.

The custom User logs in with its e-mail (no username), so the stock
UserAdmin gets forms and fieldsets keyed on ``email``. Creating a user or a
company here also gives it a billing account (billing's post_save signals).
"""

from typing import TYPE_CHECKING, TypedDict

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.forms import UserChangeForm as BaseUserChangeForm
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from .models import Company, Membership, User

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _MemberCount(TypedDict):
    members: int


def _normalised_email(email: str) -> str:
    return User.objects.normalize_email(email).strip().lower()


def _billing_account_link(owner: User | Company) -> str:
    """Link to the billing account the signal created for a user or company."""
    account_id = owner.billing_account.pk if hasattr(owner, "billing_account") else None
    if account_id is None:
        return "—"
    url = reverse("admin:billing_account_change", args=[account_id])
    return format_html('<a href="{}">{}</a>', url, owner.billing_account)


class UserCreationForm(AdminUserCreationForm):
    """Add a user by e-mail; stored lower-case like ``UserManager`` does."""

    class Meta:
        model = User
        fields = ("email", "name")

    def clean_email(self) -> str:
        email = _normalised_email(self.cleaned_data["email"])
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("A user with this e-mail address exists.")
        return email


class UserChangeForm(BaseUserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self) -> str:
        email = _normalised_email(self.cleaned_data["email"])
        taken = User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError("A user with this e-mail address exists.")
        return email


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("name", "billing_account_link")}),
        (
            "Permissions",
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                )
            },
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "email",
                    "name",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    readonly_fields = ("billing_account_link", "last_login")
    list_display = ("email", "name", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("email", "name")
    ordering = ("email",)
    date_hierarchy = "date_joined"

    @admin.display(description="Billing account")
    def billing_account_link(self, obj: User) -> str:
        return _billing_account_link(obj)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ("user",)
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user", "company")


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    inlines = (MembershipInline,)
    list_display = ("name", "member_count", "created_at")
    search_fields = ("name",)
    date_hierarchy = "created_at"
    fields = ("name", "created_at", "billing_account_link")
    readonly_fields = ("created_at", "billing_account_link")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Company]:
        return super().get_queryset(request).annotate(members=Count("memberships"))

    @admin.display(description="Members", ordering="members")
    def member_count(self, obj: "WithAnnotations[Company, _MemberCount]") -> int:
        return obj.members

    @admin.display(description="Billing account")
    def billing_account_link(self, obj: Company) -> str:
        return _billing_account_link(obj)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("company", "user", "role", "created_at")
    list_filter = ("role",)
    list_select_related = ("company", "user")
    search_fields = ("company__name", "user__email", "user__name")
    autocomplete_fields = ("user", "company")


class SignInAttemptAdmin(AccessAttemptAdmin):
    """django-axes' list of counted sign-in failures, without its clean-up action.

    That action needs no permission and fails outside a sign-in request (it
    reads an attribute the sign-in middleware sets); expired failures stop
    counting by themselves. Deleting rows (Django's own action, which needs
    the delete permission) lifts a pause early.
    """

    actions: list[str] = []


admin.site.unregister(AccessAttempt)
admin.site.register(AccessAttempt, SignInAttemptAdmin)
