"""Billing accounts: one per user and per company, from creation."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Company, Membership, User

from ..errors import InvalidRequest
from ..models import Account, AuditEntry, Plan
from ..permissions import BLOCK_ACCOUNT, CHANGE_ACCOUNT, check_staff_power
from .alerts import request_quota_evaluation
from .audit import record_audit
from .locks import lock_account

# What the account change form may edit, as the audit trail records it.
EDITABLE_FIELDS = ("name", "plan_id", "user_id", "company_id", "external_id", "email")


def default_plan() -> Plan:
    return Plan.objects.get(is_default=True)


def create_personal_account(*, user: User) -> Account:
    """Give a new user an account, claiming one the platform made for the e-mail."""
    with transaction.atomic():
        existing = Account.objects.filter(user=user).first()
        if existing:
            return existing
        claimed = (
            Account.objects.select_for_update()
            .filter(kind=Account.Kind.USER, user__isnull=True, email__iexact=user.email)
            .order_by("pk")
            .first()
        )
        if claimed:
            claimed.user = user
            claimed.save(update_fields=["user"])
            return claimed
        return Account.objects.create(
            kind=Account.Kind.USER,
            user=user,
            name=user.get_full_name(),
            plan=default_plan(),
        )


def create_company_account(*, company: Company) -> Account:
    account, _ = Account.objects.get_or_create(
        company=company,
        defaults={
            "kind": Account.Kind.COMPANY,
            "name": company.name,
            "plan": default_plan(),
        },
    )
    return account


def sign_up_user(*, email: str, password: str, name: str = "") -> User:
    with transaction.atomic():
        return User.objects.create_user(email=email, password=password, name=name)


def create_company(*, name: str, owner: User) -> Company:
    with transaction.atomic():
        company = Company.objects.create(name=name)
        Membership.objects.create(
            user=owner, company=company, role=Membership.Role.OWNER
        )
        return company


def upsert_platform_account(
    *, external_id: str, kind: str, name: str, email: str = ""
) -> tuple[Account, bool]:
    """Create or update the account the platform names ``external_id``.

    A personal account for an e-mail that already signed up is linked to that
    user's account rather than duplicated. Returns (account, created).
    """
    if kind not in Account.Kind.values:
        raise InvalidRequest(f"kind must be one of {', '.join(Account.Kind.values)}.")
    try:
        with transaction.atomic():
            account = (
                Account.objects.select_for_update()
                .filter(external_id=external_id)
                .first()
            )
            if account:
                if account.kind != kind:
                    raise InvalidRequest("An account's kind cannot change.")
                account.name = name
                if email:
                    account.email = email
                account.save(update_fields=["name", "email"])
                return account, False
            if kind == Account.Kind.USER and email:
                owned = (
                    Account.objects.select_for_update()
                    .filter(user__email__iexact=email, external_id__isnull=True)
                    .first()
                )
                if owned:
                    # The platform names the account from now on: its name
                    # and e-mail are taken as for any other PUT.
                    owned.external_id = external_id
                    owned.name = name
                    owned.email = email
                    owned.save(update_fields=["external_id", "name", "email"])
                    return owned, True
            account = Account.objects.create(
                external_id=external_id,
                kind=kind,
                name=name,
                email=email,
                plan=default_plan(),
            )
            return account, True
    except IntegrityError:
        # A concurrent PUT created it first: the retry takes the update path.
        return upsert_platform_account(
            external_id=external_id, kind=kind, name=name, email=email
        )


def claim_company_account(*, account: Account, owner: User, actor: User) -> Company:
    """Staff give a company account the platform created its Company and owner.

    The company is inserted with ``bulk_create``, which sends no post_save, so
    it takes this account instead of getting a fresh empty one. Needs
    ``billing.change_account``.
    """
    check_staff_power(actor=actor, permission=CHANGE_ACCOUNT)
    with transaction.atomic():
        account = Account.objects.select_for_update(of=("self",)).get(pk=account.pk)
        if account.kind != Account.Kind.COMPANY:
            raise InvalidRequest("Only company accounts are claimed; users sign up.")
        if account.company_id:
            raise InvalidRequest(f"{account.name} already belongs to a company.")
        (company,) = Company.objects.bulk_create([Company(name=account.name)])
        Membership.objects.create(
            user=owner, company=company, role=Membership.Role.OWNER
        )
        account.company = company
        account.save(update_fields=["company"])
        record_audit(
            action=AuditEntry.Action.ACCOUNT_CLAIMED,
            actor=actor,
            target=account,
            at=timezone.now(),
            account=account,
            before={"company_id": None},
            after={"company_id": company.pk, "owner": owner.email},
        )
    return company


def set_account_block(
    *, account: Account, blocked: bool, actor: User, reason: str
) -> bool:
    """Hard-block an account (every metered request is refused) or lift it.

    Under the account lock, so the switch lands between two usage writes,
    never inside one; the record's instant is the moment it takes effect.
    False, with nothing recorded, when the account is already in that
    state. Needs ``billing.block_account``; no command blocks, so the
    system is no actor here.
    """
    check_staff_power(actor=actor, permission=BLOCK_ACCOUNT)
    if not reason.strip():
        raise InvalidRequest("Say why: the reason is kept on record.")
    with transaction.atomic():
        account = lock_account(account)
        if account.hard_blocked == blocked:
            return False
        at = timezone.now()
        Account.objects.filter(pk=account.pk).update(hard_blocked=blocked)
        record_audit(
            action=(
                AuditEntry.Action.ACCOUNT_BLOCKED
                if blocked
                else AuditEntry.Action.ACCOUNT_UNBLOCKED
            ),
            actor=actor,
            target=account,
            at=at,
            account=account,
            before={"hard_blocked": not blocked},
            after={"hard_blocked": blocked},
            reason=reason,
        )
        request_quota_evaluation(account_ids=[account.pk], at=at)
    return True


def _editable(account: Account) -> dict[str, object]:
    return {field: getattr(account, field) for field in EDITABLE_FIELDS}


def save_account(*, account: Account, actor: User, reason: str = "") -> Account:
    """Save staff edits of an account (name, plan, owner, ids), on record.

    The row is locked first, so the "before" on record is the one this save
    replaces. The hard block is not an edit: see ``set_account_block``.
    """
    check_staff_power(actor=actor, permission=CHANGE_ACCOUNT)
    with transaction.atomic():
        current = lock_account(account)
        before = _editable(current)
        account.hard_blocked = current.hard_blocked
        account.save()
        after = _editable(account)
        if after != before:
            changed = [
                field for field in EDITABLE_FIELDS if after[field] != before[field]
            ]
            record_audit(
                action=AuditEntry.Action.ACCOUNT_CHANGED,
                actor=actor,
                target=account,
                at=timezone.now(),
                account=account,
                before={field: before[field] for field in changed},
                after={field: after[field] for field in changed},
                reason=reason,
            )
    return account
