"""Who may see and manage which account; API keys; accounts by external id."""

from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.db.models import Q, QuerySet

from accounts.models import Membership, User

from ..errors import UnknownAccount
from ..models import (
    Account,
    ApiKey,
)


def get_account(*, external_id: str) -> Account:
    try:
        return Account.objects.select_related("plan").get(external_id=external_id)
    except Account.DoesNotExist:
        raise UnknownAccount(f"No account has the id {external_id!r}.") from None


def can_manage_account(*, user: User | AnonymousUser | None, account: Account) -> bool:
    """Personal accounts: their user. Company accounts: owners and admins."""
    if user is None or not user.is_authenticated:
        return False
    if account.company_id is None:
        return account.user_id == user.pk
    return Membership.objects.filter(
        user=user,
        company_id=account.company_id,
        role__in=[Membership.Role.OWNER, Membership.Role.ADMIN],
    ).exists()


def account_email(*, account: Account) -> str:
    """Where alerts and documents go: the user, the company's first owner (in
    the memberships' order: by e-mail), or the e-mail the platform gave (an
    account no one has signed up to)."""
    if account.user is not None:
        return account.user.email
    if account.company_id is not None:
        owner = (
            Membership.objects.filter(
                company_id=account.company_id, role=Membership.Role.OWNER
            )
            .select_related("user")
            .first()
        )
        if owner is not None:
            return owner.user.email
    return account.email


def list_accounts_for_user(*, user: User) -> QuerySet[Account]:
    """The user's personal account and every company account they belong to."""
    return (
        Account.objects.filter(
            Q(user_id=user.pk) | Q(company__memberships__user_id=user.pk)
        )
        .distinct()
        .order_by("kind", "name")
    )


def api_key_hash(*, raw_key: str) -> str | None:
    """What a key is stored as, or None for a value no key can have."""
    if not raw_key or len(raw_key) > 200:
        return None
    return ApiKey.hash_key(raw_key)


def find_live_api_key(*, raw_key: str) -> ApiKey | None:
    """The unrevoked key with this value, or None. Read on every request.

    No cache: a revoked key must fail on the very next call, on every host.
    A plain statement (prepared by the connection after a few calls): the
    ORM would spend longer compiling this lookup than the database running
    it, on every API request.
    """
    key_hash = api_key_hash(raw_key=raw_key)
    if key_hash is None:
        return None
    table = ApiKey._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, name, prefix FROM {table}"
            " WHERE key_hash = %s AND revoked_at IS NULL",
            [key_hash],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return ApiKey(id=row[0], name=row[1], prefix=row[2])


def get_company_account(*, external_id: str) -> Account:
    """Job slots exist only for company accounts: anything else is unknown here.

    A raw read (the slot calls are hot paths); fields not selected load on
    first access, as with ``only()``.
    """
    found = list(
        Account.objects.raw(
            f"SELECT id, kind, plan_id, external_id FROM {Account._meta.db_table}"
            " WHERE external_id = %s AND kind = %s",
            [external_id, Account.Kind.COMPANY],
        )
    )
    if not found:
        raise UnknownAccount(f"No company account has the id {external_id!r}.")
    return found[0]


def list_account_managers(*, account: Account) -> QuerySet[Membership]:
    """The owners and admins of a company account (owners first), with their
    users: the people a plain member asks to buy or renew. None for a
    personal account."""
    if account.company_id is None:
        return Membership.objects.none()
    return (
        Membership.objects.filter(
            company_id=account.company_id,
            role__in=[Membership.Role.OWNER, Membership.Role.ADMIN],
        )
        .select_related("user")
        .order_by("-role", "user__name", "user__email")  # "owner" > "admin"
    )
