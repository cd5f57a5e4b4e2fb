"""Staff powers: each one a Django permission, checked where it is used.

The admin hides an action from staff without its permission, and the
service or selector checks again, so a hand-made POST (or any other caller)
meets the same rule. Superusers hold every permission. ``None`` as the
actor is the system itself (management commands, the demo seed): it passes
only where the service says so with ``allow_system``, and the services that
allow it take the actor without a default, so forgetting it is a TypeError
rather than a skipped check. Reads (the analytics and payouts reports)
never allow the system.
"""

from accounts.models import User

from .errors import MissingPermission

# Custom permissions, declared in the Meta of the model each one guards.
REVIEW_THEME = "store.review_theme"  # approve or reject themes
VIEW_PAYOUTS = "store.view_payouts"  # the payouts-due report
REFUND_CHARGE = "billing.refund_charge"  # refund charges and theme sales
ADJUST_GRANT = "billing.adjust_grant"  # adjustment grants, revocations
BLOCK_ACCOUNT = "billing.block_account"  # hard-block and unblock accounts
VIEW_ANALYTICS = "billing.view_analytics"  # the analytics reports and their CSV
# Django's own model permission, used as a power: editing an account's
# name, plan and owner, and claiming a platform company account.
CHANGE_ACCOUNT = "billing.change_account"
# Register, edit and re-enable webhook endpoints, rotate secrets, resend.
ADD_WEBHOOK_ENDPOINT = "billing.add_webhookendpoint"
MANAGE_WEBHOOKS = "billing.change_webhookendpoint"


def holds_staff_power(*, actor: User | None, permission: str) -> bool:
    """True for active staff holding ``permission`` (superusers hold all)."""
    return bool(
        actor is not None
        and actor.is_active
        and actor.is_staff
        and actor.has_perm(permission)
    )


def check_staff_power(
    *, actor: User | None, permission: str, allow_system: bool = False
) -> None:
    """Refuse (``forbidden``) unless the actor holds ``permission``.

    ``None`` is the system and passes only with ``allow_system`` (the
    services that commands and the seed call without a person); views and
    admin always pass the signed-in user.
    """
    if actor is None and allow_system:
        return
    if not holds_staff_power(actor=actor, permission=permission):
        raise MissingPermission(permission)
