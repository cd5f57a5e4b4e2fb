"""Staff edits of the catalogue: packs, meters and plans, each on record.

The admin saves through these services, so every change of a price, a
term, a listing or an allowance leaves an audit entry with the values it
replaced. Each save locks the edited row first: two staff saving at once
are recorded one after the other, each "before" being the row it replaced.
A save that changes nothing is not recorded.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from accounts.models import User

from ..errors import InvalidRequest
from ..models import AuditEntry, Meter, Pack, PackAllowance, Plan, PlanAllowance
from ..permissions import check_staff_power
from .audit import record_audit

PACK_FIELDS = (
    "code",
    "name",
    "description",
    "category",
    "kind",
    "price_cents",
    "term_days",
    "is_active",
)
# display_order only sorts the lists: not a change worth a record.
METER_FIELDS = (
    "code",
    "name",
    "unit",
    "kind",
    "overage_price_cents",
    "price_quantum",
    "quantum_label",
)
PLAN_FIELDS = ("code", "name", "is_default")


@dataclass(frozen=True, slots=True)
class AllowanceLine:
    meter: Meter
    amount: int


def _lines_record(lines: models.QuerySet) -> dict[str, int]:
    return dict(lines.order_by("meter__code").values_list("meter__code", "amount"))


def _record(
    obj: models.Model, fields: Sequence[str], lines: models.QuerySet | None = None
) -> dict[str, Any]:
    record = {field: getattr(obj, field) for field in fields}
    if lines is not None:
        record["allowances"] = _lines_record(lines)
    return record


def _replace_lines(
    *,
    model: type[PackAllowance] | type[PlanAllowance],
    owner_field: str,
    owner: models.Model,
    lines: Sequence[AllowanceLine],
) -> None:
    """Make the owner's allowance lines exactly ``lines``, one per meter."""
    wanted = {}
    for line in lines:
        if line.meter.pk in wanted:
            raise InvalidRequest(f"{line.meter.name} is listed twice.")
        wanted[line.meter.pk] = line.amount
    existing = {
        line.meter_id: line for line in model.objects.filter(**{owner_field: owner})
    }
    model.objects.filter(**{owner_field: owner}).exclude(meter_id__in=wanted).delete()
    for meter_id, amount in wanted.items():
        line = existing.get(meter_id)
        if line is None:
            model.objects.create(
                **{owner_field: owner}, meter_id=meter_id, amount=amount
            )
        elif line.amount != amount:
            line.amount = amount
            line.save(update_fields=["amount"])


def _save_on_record(
    *,
    obj: models.Model,
    fields: Sequence[str],
    staff_user: User,
    actions: tuple[str, str],
    save_lines: Callable[[], None] | None = None,
    lines_of: Callable[[models.Model], models.QuerySet] | None = None,
    reason: str = "",
) -> None:
    """Lock, read the before, save, and record what changed (if anything)."""
    model = type(obj)
    opts = model._meta
    creating = obj.pk is None
    verb = "add" if creating else "change"
    permission = f"{opts.app_label}.{verb}_{opts.model_name}"
    check_staff_power(staff_user, permission, allow_system=False)
    created_action, changed_action = actions
    with transaction.atomic():
        before = None
        if not creating:
            current = model.objects.select_for_update().get(pk=obj.pk)
            before = _record(current, fields, lines_of(current) if lines_of else None)
        obj.save()
        if save_lines is not None:
            save_lines()
        after = _record(obj, fields, lines_of(obj) if lines_of else None)
        if after == before:
            return
        changed = (
            list(after)
            if before is None
            else [key for key in after if after[key] != before[key]]
        )
        record_audit(
            action=created_action if creating else changed_action,
            actor=staff_user,
            target=obj,
            at=timezone.now(),
            before=None if before is None else {k: before[k] for k in changed},
            after={key: after[key] for key in changed},
            reason=reason,
        )


def save_pack(
    *,
    pack: Pack,
    staff_user: User,
    lines: Sequence[AllowanceLine] | None = None,
    reason: str = "",
) -> Pack:
    """Save a pack and, when given, its whole set of allowance lines, on record.

    Records price, kind, term, listing and lines before and after. Needs
    ``billing.add_pack`` or ``billing.change_pack``.
    """

    def save_lines() -> None:
        _replace_lines(model=PackAllowance, owner_field="pack", owner=pack, lines=lines)

    _save_on_record(
        obj=pack,
        fields=PACK_FIELDS,
        staff_user=staff_user,
        actions=(AuditEntry.Action.PACK_CREATED, AuditEntry.Action.PACK_CHANGED),
        save_lines=None if lines is None else save_lines,
        lines_of=lambda p: PackAllowance.objects.filter(pack=p),
        reason=reason,
    )
    return pack


def save_meter(*, meter: Meter, staff_user: User, reason: str = "") -> Meter:
    """Save a meter, recording its overage price and terms before and after.

    Needs ``billing.add_meter`` or ``billing.change_meter``.
    """
    _save_on_record(
        obj=meter,
        fields=METER_FIELDS,
        staff_user=staff_user,
        actions=(AuditEntry.Action.PRICE_CHANGED, AuditEntry.Action.PRICE_CHANGED),
        reason=reason,
    )
    return meter


def save_plan(
    *,
    plan: Plan,
    staff_user: User,
    lines: Sequence[AllowanceLine] | None = None,
    reason: str = "",
) -> Plan:
    """Save a plan and, when given, its whole set of allowances, on record.

    Needs ``billing.add_plan`` or ``billing.change_plan``.
    """

    def save_lines() -> None:
        _replace_lines(model=PlanAllowance, owner_field="plan", owner=plan, lines=lines)

    _save_on_record(
        obj=plan,
        fields=PLAN_FIELDS,
        staff_user=staff_user,
        actions=(AuditEntry.Action.PRICE_CHANGED, AuditEntry.Action.PRICE_CHANGED),
        save_lines=None if lines is None else save_lines,
        lines_of=lambda p: PlanAllowance.objects.filter(plan=p),
        reason=reason,
    )
    return plan
