"""Staff edits of the catalogue: packs, meters and plans, each on record.

The admin saves through these services, so every change of a price, a
term, a listing or an allowance leaves an audit entry with the values it
replaced (``audit.save_on_record``: the edited row is locked first, and a
save that changes nothing is not recorded). Nothing here deletes: a pack
is taken off sale, and meters and plans are referenced by accounts, grants
and usage, so the admin refuses to delete any of them.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import models

from accounts.models import User

from ..errors import InvalidRequest
from ..models import AuditEntry, Meter, Pack, PackAllowance, Plan, PlanAllowance
from .audit import Record, save_on_record

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


def _lines_record(lines: models.QuerySet) -> Record:
    return {
        "allowances": dict(
            lines.order_by("meter__code").values_list("meter__code", "amount")
        )
    }


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
    stored = model._default_manager.filter(**{owner_field: owner})
    existing = {row.meter_id: row for row in stored}
    stored.exclude(meter_id__in=wanted).delete()
    for meter_id, amount in wanted.items():
        row = existing.get(meter_id)
        if row is None:
            model._default_manager.create(
                **{owner_field: owner}, meter_id=meter_id, amount=amount
            )
        elif row.amount != amount:
            row.amount = amount
            row.save(update_fields=["amount"])


def _save_with_lines(
    *,
    obj: Pack | Plan,
    lines_model: type[PackAllowance] | type[PlanAllowance],
    owner_field: str,
    fields: Sequence[str],
    actions: tuple[str, str],
    actor: User,
    lines: Sequence[AllowanceLine] | None,
    reason: str,
) -> None:
    """Save ``obj`` and, when given, its whole set of allowance lines, with
    the lines recorded before and after."""

    def save_lines() -> None:
        _replace_lines(
            model=lines_model, owner_field=owner_field, owner=obj, lines=lines or ()
        )

    save_on_record(
        obj=obj,
        fields=fields,
        actor=actor,
        actions=actions,
        save_related=None if lines is None else save_lines,
        related_of=lambda o: _lines_record(
            lines_model._default_manager.filter(**{owner_field: o})
        ),
        reason=reason,
    )


def save_pack(
    *,
    pack: Pack,
    actor: User,
    lines: Sequence[AllowanceLine] | None = None,
    reason: str = "",
) -> Pack:
    """Save a pack and, when given, its whole set of allowance lines, on record.

    Records price, kind, term, listing and lines before and after. Needs
    ``billing.add_pack`` or ``billing.change_pack``.
    """
    _save_with_lines(
        obj=pack,
        lines_model=PackAllowance,
        owner_field="pack",
        fields=PACK_FIELDS,
        actions=(AuditEntry.Action.PACK_CREATED, AuditEntry.Action.PACK_CHANGED),
        actor=actor,
        lines=lines,
        reason=reason,
    )
    return pack


def save_meter(*, meter: Meter, actor: User, reason: str = "") -> Meter:
    """Save a meter, recording its overage price and terms before and after.

    Needs ``billing.add_meter`` or ``billing.change_meter``.
    """
    save_on_record(
        obj=meter,
        fields=METER_FIELDS,
        actor=actor,
        actions=(AuditEntry.Action.METER_CREATED, AuditEntry.Action.PRICE_CHANGED),
        reason=reason,
    )
    return meter


def save_plan(
    *,
    plan: Plan,
    actor: User,
    lines: Sequence[AllowanceLine] | None = None,
    reason: str = "",
) -> Plan:
    """Save a plan and, when given, its whole set of allowances, on record.

    Needs ``billing.add_plan`` or ``billing.change_plan``.
    """
    _save_with_lines(
        obj=plan,
        lines_model=PlanAllowance,
        owner_field="plan",
        fields=PLAN_FIELDS,
        actions=(AuditEntry.Action.PLAN_CREATED, AuditEntry.Action.PRICE_CHANGED),
        actor=actor,
        lines=lines,
        reason=reason,
    )
    return plan
