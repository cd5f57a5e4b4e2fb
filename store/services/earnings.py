"""Staff set the revenue policy and record payouts, each change on record.

A policy's tiers and monthly cap decide what creators earn, so every save
or deletion leaves an audit entry with the terms before and after
(``save_on_record``). A policy in effect is history: past months'
earnings, caps and payouts are computed from it, so it is never changed or
deleted; new terms are a new policy with a later ``effective_from``.
Payouts are append-only: one entry each, and a mistake is corrected by a
new row.
"""

from collections.abc import Callable, Sequence

from django.utils import timezone

from accounts.models import User
from billing.errors import InvalidRequest
from billing.models import AuditEntry
from billing.services.audit import Record, delete_on_record, save_on_record

from ..models import Payout, RevenuePolicy, RevenueTier
from ..revenue import Tier, validate_tiers

POLICY_FIELDS = ("name", "effective_from", "monthly_cap_cents")
PAYOUT_FIELDS = ("creator_id", "amount_cents", "reference", "paid_at")


def _ordered(tiers: Sequence[Tier]) -> list[Tier]:
    return sorted(tiers, key=lambda t: (t.up_to_cents is None, t.up_to_cents or 0))


def _saved_tiers(policy: RevenuePolicy) -> list[Tier]:
    return _ordered(
        [
            Tier(up_to_cents=t.up_to_cents, creator_percent=t.creator_percent)
            for t in RevenueTier.objects.filter(policy=policy)
        ]
    )


def _tiers_record(policy: RevenuePolicy) -> Record:
    return {
        "tiers": [
            {
                "up_to_cents": tier.up_to_cents,
                "creator_percent": f"{tier.creator_percent.normalize():f}",
            }
            for tier in _saved_tiers(policy)
        ]
    }


def _not_in_effect(policy: RevenuePolicy) -> None:
    if policy.effective_from <= timezone.now():
        raise InvalidRequest(
            f"{policy.name} is in effect, so it is history: add a new policy"
            " with a later start instead."
        )


def _tiers_saver(policy: RevenuePolicy, wanted: list[Tier]) -> Callable[[], None]:
    """Replace the policy's tiers once it is saved, unless they are these."""

    def save_tiers() -> None:
        if _saved_tiers(policy) == wanted:
            return
        RevenueTier.objects.filter(policy=policy).delete()
        RevenueTier.objects.bulk_create(
            RevenueTier(
                policy=policy,
                up_to_cents=tier.up_to_cents,
                creator_percent=tier.creator_percent,
            )
            for tier in wanted
        )

    return save_tiers


def save_revenue_policy(
    *,
    policy: RevenuePolicy,
    actor: User,
    tiers: Sequence[Tier] | None = None,
    reason: str = "",
) -> RevenuePolicy:
    """Save a policy not yet in effect and, when given, exactly these tiers.

    Records name, start, cap and tiers before and after. Needs
    ``store.add_revenuepolicy`` or ``store.change_revenuepolicy``.
    """
    wanted = None
    if tiers is not None:
        wanted = _ordered(tiers)
        try:
            validate_tiers(wanted)
        except ValueError as error:
            raise InvalidRequest(str(error)) from None

    save_on_record(
        obj=policy,
        fields=POLICY_FIELDS,
        actor=actor,
        actions=(
            AuditEntry.Action.REVENUE_POLICY_CREATED,
            AuditEntry.Action.REVENUE_POLICY_CHANGED,
        ),
        save_related=None if wanted is None else _tiers_saver(policy, wanted),
        related_of=_tiers_record,
        guard=_not_in_effect,
        reason=reason,
    )
    return policy


def delete_revenue_policy(
    *, policy: RevenuePolicy, actor: User, reason: str = ""
) -> None:
    """Delete a policy not yet in effect, recording its terms.

    Needs ``store.delete_revenuepolicy``.
    """
    delete_on_record(
        obj=policy,
        fields=POLICY_FIELDS,
        actor=actor,
        action=AuditEntry.Action.REVENUE_POLICY_DELETED,
        related_of=_tiers_record,
        guard=_not_in_effect,
        reason=reason,
    )


def record_payout(*, payout: Payout, actor: User, reason: str = "") -> Payout:
    """Record money paid to a creator (after the transfer); payouts due drop by it.

    A new row only: a recorded payout is never edited. Needs
    ``store.add_payout``.
    """
    if payout.pk is not None:
        raise InvalidRequest(
            "A recorded payout is not edited: record a correcting payout instead."
        )
    payout.recorded_by = actor
    save_on_record(
        obj=payout,
        fields=PAYOUT_FIELDS,
        actor=actor,
        actions=(AuditEntry.Action.PAYOUT_RECORDED, AuditEntry.Action.PAYOUT_RECORDED),
        reason=reason,
    )
    return payout
