import factory
from django.contrib.auth.models import Permission
from factory.django import DjangoModelFactory

from accounts.models import Company, Membership, User


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        if create:
            instance.save(update_fields=["password"])


class CompanyFactory(DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"Company {n}")


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    company = factory.SubFactory(CompanyFactory)
    role = Membership.Role.MEMBER

    class Params:
        owner = factory.Trait(role=Membership.Role.OWNER)
        admin = factory.Trait(role=Membership.Role.ADMIN)


def permissions(*names: str) -> list[Permission]:
    """Permission rows for "app_label.codename" names (each must exist)."""
    found = []
    for name in names:
        app_label, codename = name.split(".")
        found.append(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return found


class StaffUserFactory(UserFactory):
    """A staff user holding exactly ``perms`` ("app_label.codename"), no more.

    ``StaffUserFactory(perms=["store.review_theme"])``; without ``perms`` the
    user is staff with no permission at all.
    """

    is_staff = True

    @factory.post_generation
    def perms(self, create: bool, extracted: list[str] | None, **kwargs) -> None:
        if create and extracted:
            self.user_permissions.add(*permissions(*extracted))
