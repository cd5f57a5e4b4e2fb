"""Write the audit trail: one entry per staff change, inside its transaction.

``save_on_record`` and ``delete_on_record`` are the shared shape of the
staff edits of reference data (packs, meters, plans, bundles, revenue
policies): check Django's add/change/delete permission for the model, lock
the edited row, read the before, change it, and record the fields that
changed. Two staff saving at once are recorded one after the other, each
"before" being the row it replaced; a save that changes nothing is not
recorded.
"""

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from accounts.models import User

from ..models import Account, AuditEntry
from ..permissions import check_staff_power

Record = dict[str, Any]


def record_audit(
    *,
    action: str,
    actor: User | None,
    target: Model,
    at: datetime,
    account: Account | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str = "",
) -> AuditEntry:
    """Record who changed ``target``, when, from what to what, and why.

    Call it inside the transaction that makes the change, so the two commit
    together or not at all; outside one it refuses. ``actor`` None is the
    system.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("record_audit runs inside the change's transaction.")
    if at.tzinfo is None:
        raise ValueError("An audit instant is an aware datetime.")
    opts = target._meta
    return AuditEntry.objects.create(
        at=at.astimezone(UTC),
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        target_type=opts.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:200],
        account=account,
        before=dict(before) if before is not None else None,
        after=dict(after) if after is not None else None,
        reason=reason.strip(),
    )


def _model_permission(obj: Model, verb: str) -> str:
    opts = obj._meta
    return f"{opts.app_label}.{verb}_{opts.model_name}"


def _record(
    obj: Model, fields: Sequence[str], related_of: Callable[[Any], Record] | None
) -> Record:
    record = {field: getattr(obj, field) for field in fields}
    if related_of is not None:
        record.update(related_of(obj))
    return record


def save_on_record(
    *,
    obj: Model,
    fields: Sequence[str],
    actor: User,
    actions: tuple[str, str],
    save_related: Callable[[], None] | None = None,
    related_of: Callable[[Any], Record] | None = None,
    guard: Callable[[Any], None] | None = None,
    reason: str = "",
) -> AuditEntry | None:
    """Save ``obj`` (and what ``save_related`` writes) with its change on record.

    Needs Django's ``add_`` or ``change_`` permission for the model; a
    person, never the system. ``actions`` is (created, changed).
    ``related_of`` adds related rows (allowance lines, tiers, themes) to the
    record; ``guard`` sees the locked row before the save and raises to
    refuse it. None when nothing recorded changed.
    """
    creating = obj.pk is None
    permission = _model_permission(obj, "add" if creating else "change")
    check_staff_power(actor=actor, permission=permission)
    created_action, changed_action = actions
    with transaction.atomic():
        before = None if creating else _locked_record(obj, fields, related_of, guard)
        obj.save()
        if save_related is not None:
            save_related()
        after = _record(obj, fields, related_of)
        if after == before:
            return None
        changed = [key for key in after if before is None or after[key] != before[key]]
        return record_audit(
            action=created_action if creating else changed_action,
            actor=actor,
            target=obj,
            at=timezone.now(),
            before=None if before is None else {k: before[k] for k in changed},
            after={key: after[key] for key in changed},
            reason=reason,
        )


def _locked_record(
    obj: Model,
    fields: Sequence[str],
    related_of: Callable[[Any], Record] | None,
    guard: Callable[[Any], None] | None,
) -> Record:
    """The stored row as it is before the save, locked; ``guard`` may refuse."""
    current = type(obj)._default_manager.select_for_update().get(pk=obj.pk)
    if guard is not None:
        guard(current)
    return _record(current, fields, related_of)


def delete_on_record(
    *,
    obj: Model,
    fields: Sequence[str],
    actor: User,
    action: str,
    related_of: Callable[[Any], Record] | None = None,
    guard: Callable[[Any], None] | None = None,
    reason: str = "",
) -> AuditEntry:
    """Delete ``obj``, recording everything it held as the "before".

    Needs Django's ``delete_`` permission for the model; ``guard`` sees the
    locked row and raises to refuse.
    """
    check_staff_power(actor=actor, permission=_model_permission(obj, "delete"))
    with transaction.atomic():
        current = type(obj)._default_manager.select_for_update().get(pk=obj.pk)
        if guard is not None:
            guard(current)
        entry = record_audit(
            action=action,
            actor=actor,
            target=current,
            at=timezone.now(),
            before=_record(current, fields, related_of),
            reason=reason,
        )
        current.delete()
    return entry
