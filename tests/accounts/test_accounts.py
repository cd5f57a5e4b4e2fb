import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.models import Company, Membership
from billing.errors import InvalidRequest, PermissionDenied
from billing.models import Account, Plan
from billing.selectors import can_manage_account
from billing.services.accounts import (
    claim_company_account,
    create_company,
    sign_up_user,
    upsert_platform_account,
)
from tests.factories.accounts import (
    CompanyFactory,
    MembershipFactory,
    StaffUserFactory,
    UserFactory,
)
from tests.factories.billing import company_account, personal_account

pytestmark = pytest.mark.django_db


def test_every_new_user_gets_a_personal_account_on_the_default_plan():
    user = sign_up_user(email="Ann@Example.com", password="pw", name="Ann")

    account = user.billing_account
    assert account.kind == Account.Kind.USER
    assert account.company is None
    assert account.name == "Ann"
    assert account.plan == Plan.objects.get(is_default=True)
    assert Account.objects.filter(user=user).count() == 1


def test_a_user_created_any_other_way_also_gets_an_account():
    user = UserFactory()

    assert Account.objects.get(user=user).kind == Account.Kind.USER


def test_every_new_company_gets_a_company_account():
    owner = UserFactory()

    company = create_company(name="Acme", owner=owner)

    account = company.billing_account
    assert account.kind == Account.Kind.COMPANY
    assert account.user is None
    assert account.name == "Acme"
    assert account.plan.is_default
    assert company.memberships.get().role == Membership.Role.OWNER


def test_a_company_created_directly_also_gets_an_account():
    company = CompanyFactory()

    assert Account.objects.get(company=company).kind == Account.Kind.COMPANY


def test_saving_a_user_again_creates_no_second_account():
    user = UserFactory()
    user.name = "Renamed"
    user.save()

    assert Account.objects.filter(user=user).count() == 1


def test_a_platform_account_is_attached_to_the_user_who_signs_up_with_its_email():
    account, created = upsert_platform_account(
        external_id="usr_42", kind="user", name="Bea", email="Bea@Example.com"
    )

    user = sign_up_user(email="bea@example.com", password="pw")

    assert created is True
    assert user.billing_account == account
    account.refresh_from_db()
    assert account.user == user
    assert account.external_id == "usr_42"
    assert Account.objects.filter(kind=Account.Kind.USER).count() == 1


def test_a_platform_account_without_email_is_not_claimed():
    upsert_platform_account(external_id="usr_1", kind="user", name="Cy")

    user = sign_up_user(email="cy@example.com", password="pw")

    assert user.billing_account.external_id is None
    assert Account.objects.get(external_id="usr_1").user is None


def test_a_company_platform_account_is_not_claimed_by_a_user():
    company, _ = upsert_platform_account(
        external_id="co_1", kind="company", name="Initech", email="boss@initech.test"
    )

    user = sign_up_user(email="boss@initech.test", password="pw")

    assert user.billing_account != company
    company.refresh_from_db()
    assert (company.user, company.company) == (None, None)


def test_the_platform_naming_a_signed_up_user_links_their_account():
    user = sign_up_user(email="dee@example.com", password="pw")

    account, created = upsert_platform_account(
        external_id="usr_7", kind="user", name="Dee", email="DEE@example.com"
    )

    assert account == user.billing_account
    assert created is True
    assert Account.objects.filter(kind=Account.Kind.USER).count() == 1
    user.billing_account.refresh_from_db()
    assert user.billing_account.external_id == "usr_7"


def test_a_second_upsert_updates_the_name():
    first, created = upsert_platform_account(
        external_id="usr_9", kind="user", name="Old name", email="e@example.com"
    )

    again, created_again = upsert_platform_account(
        external_id="usr_9", kind="user", name="New name"
    )

    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    again.refresh_from_db()
    assert again.name == "New name"
    assert again.email == "e@example.com"
    assert Account.objects.filter(external_id="usr_9").count() == 1


def test_an_account_kind_cannot_change():
    upsert_platform_account(external_id="acct_1", kind="user", name="Fay")

    with pytest.raises(InvalidRequest) as excinfo:
        upsert_platform_account(external_id="acct_1", kind="company", name="Fay Inc")

    assert excinfo.value.code == "invalid_request"
    account = Account.objects.get(external_id="acct_1")
    assert (account.kind, account.name) == (Account.Kind.USER, "Fay")


def test_an_unknown_kind_is_refused():
    with pytest.raises(InvalidRequest):
        upsert_platform_account(external_id="acct_2", kind="team", name="Gus")

    assert not Account.objects.filter(external_id="acct_2").exists()


def test_a_platform_account_starts_on_the_default_plan():
    account, _ = upsert_platform_account(external_id="co_2", kind="company", name="X")

    assert account.plan.is_default
    assert account.kind == Account.Kind.COMPANY


@pytest.mark.parametrize(
    "role, allowed",
    [
        (Membership.Role.OWNER, True),
        (Membership.Role.ADMIN, True),
        (Membership.Role.MEMBER, False),
    ],
)
def test_company_accounts_are_managed_by_owners_and_admins(role, allowed):
    account = company_account()
    user = MembershipFactory(company=account.company, role=role).user

    assert can_manage_account(user=user, account=account) is allowed


def test_an_outsider_cannot_manage_a_company_account():
    account = company_account()
    other_company_owner = UserFactory()
    company_account(owner=other_company_owner)

    assert can_manage_account(user=UserFactory(), account=account) is False
    assert can_manage_account(user=other_company_owner, account=account) is False


def test_a_personal_account_is_managed_only_by_its_user():
    account = personal_account()

    assert can_manage_account(user=account.user, account=account) is True
    assert can_manage_account(user=UserFactory(), account=account) is False


def test_a_company_owner_cannot_manage_a_members_personal_account():
    account = company_account()
    member = MembershipFactory(company=account.company).user
    owner = account.company.memberships.get(role="owner").user

    assert can_manage_account(user=owner, account=member.billing_account) is False


def test_nobody_anonymous_manages_an_account():
    account = personal_account()

    assert can_manage_account(user=AnonymousUser(), account=account) is False
    assert can_manage_account(user=None, account=account) is False


def test_an_unclaimed_platform_account_is_managed_by_nobody():
    account, _ = upsert_platform_account(external_id="usr_x", kind="user", name="X")

    assert can_manage_account(user=UserFactory(), account=account) is False


def test_staff_claim_a_platform_company_account_for_its_owner():
    staff = StaffUserFactory(perms=["billing.change_account"])
    owner = UserFactory()
    account, _ = upsert_platform_account(
        external_id="co_77", kind="company", name="Initech"
    )
    companies_before = Company.objects.count()

    company = claim_company_account(account=account, owner=owner, actor=staff)

    account.refresh_from_db()
    assert account.company == company and company.name == "Initech"
    assert Company.objects.count() == companies_before + 1
    assert company.billing_account == account  # no second, empty account
    assert can_manage_account(user=owner, account=account)


def test_a_claimed_or_personal_account_cannot_be_claimed_and_non_staff_cannot_claim():
    staff = StaffUserFactory(perms=["billing.change_account"])
    account, _ = upsert_platform_account(
        external_id="co_78", kind="company", name="Hooli"
    )
    claim_company_account(account=account, owner=UserFactory(), actor=staff)
    personal, _ = upsert_platform_account(external_id="u_1", kind="user", name="Pat")

    with pytest.raises(InvalidRequest):
        claim_company_account(account=account, owner=UserFactory(), actor=staff)
    with pytest.raises(InvalidRequest):
        claim_company_account(account=personal, owner=UserFactory(), actor=staff)
    other, _ = upsert_platform_account(external_id="co_79", kind="company", name="Pied")
    with pytest.raises(PermissionDenied):
        claim_company_account(account=other, owner=UserFactory(), actor=UserFactory())
    other.refresh_from_db()
    assert other.company_id is None
