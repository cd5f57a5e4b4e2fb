"""The outbound webhooks in the OpenAPI document (its 3.1 ``webhooks`` map).

One POST operation per event type, named by the type: its body is the event
envelope with that type's ``data``, its parameters the Standard Webhooks
headers. The models here only describe what ``billing.services.
webhook_events`` builds; a test holds a real event body to its schema, and
docs/webhooks.md tells the whole story with examples.
"""

import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from django.conf import settings
from ninja import NinjaAPI
from pydantic import BaseModel, Field, create_model
from pydantic.json_schema import SkipJsonSchema, models_json_schema

from ..models import ChargeRecord, EventType, Meter, Purchase

REF_TEMPLATE = "#/components/schemas/{model}"
if TYPE_CHECKING:  # the models' choices, which only exist at run time
    ChargeKind = str
    ChargeStatus = str
    MeterUnit = str
    PurchaseKind = str
else:
    ChargeKind = Literal[*ChargeRecord.Kind.values]
    ChargeStatus = Literal[*ChargeRecord.Status.values]
    MeterUnit = Literal[*Meter.Unit.values]
    PurchaseKind = Literal[*Purchase.Kind.values]


def _account() -> Any:
    return Field(
        description=(
            "The account's `external_id`, as the platform named it (`PUT "
            "/accounts/{external_id}`); null for an account the platform never "
            "named (a user who signed up on the dashboard)."
        ),
        examples=["co_42"],
    )


def _absent_when_none(schema: dict[str, Any]) -> None:
    # The key is left out rather than sent as null: no default to show.
    schema.pop("default", None)


# -- Quota events ------------------------------------------------------------


class QuotaEventOverage(BaseModel):
    """The live overage consent, on `overage` and `blocked` states."""

    cap_cents: int = Field(
        description="The consent's cap in cents (`BILLING_CURRENCY`).",
        examples=[500],
    )
    accrued_cents: int = Field(
        description=(
            "Consented overage cost so far this period, in cents; may pass the "
            "cap (usage already served is recorded), but only `billable_cents` "
            "is charged."
        ),
        examples=[120],
    )
    billable_cents: int = Field(
        description=(
            "What the month's close would charge so far, in cents before tax: "
            "`accrued_cents` bounded by `cap_cents`."
        ),
        examples=[120],
    )


class QuotaEventData(BaseModel):
    account: str | None = _account()
    meter: str = Field(
        description=(
            "Meter code: `storage`, `bandwidth`, `transcoding` or `job_slots` "
            "(staff may add meters)."
        ),
        examples=["bandwidth"],
    )
    unit: MeterUnit = Field(description="The unit of `used` and `limit`.")
    period_start: date = Field(
        description="First day of the billing period (a calendar month, UTC).",
        examples=["2026-04-01"],
    )
    period_end: date = Field(
        description="First day of the next period (exclusive).",
        examples=["2026-05-01"],
    )
    state: str
    used: int = Field(
        description=(
            "In the meter's unit: used this period (counters), the level now "
            "(storage), active slots (job slots)."
        ),
        examples=[4300000000],
    )
    limit: int = Field(
        description=(
            "In the meter's unit: the plan allowance plus live packs (counters: "
            "plus top-up units burned this period)."
        ),
        examples=[5000000000],
    )
    percent: float = Field(
        description=(
            "`used` / `limit` x 100, one decimal (100.0 for any use of a zero limit)."
        ),
        examples=[86.0],
    )


class QuotaWarningData(QuotaEventData):
    state: Literal["warning"] = Field(description="80% <= used < limit.")


class QuotaExceededData(QuotaEventData):
    state: Literal["exceeded"] = Field(
        description=(
            "used >= limit with no live consent, or on a hard-limit meter "
            "(job slots: every slot in use)."
        )
    )


class QuotaOverageStartedData(QuotaEventData):
    state: Literal["overage"] = Field(
        description="Past the limit under a live consent, below its cap."
    )
    overage: QuotaEventOverage


class QuotaBlockedData(QuotaEventData):
    state: Literal["blocked"] = Field(
        description="The consent's cap is reached, or staff blocked the account."
    )
    overage: QuotaEventOverage | SkipJsonSchema[None] = Field(
        default=None,
        description="Present when a consent is live (not for a staff block without).",
        json_schema_extra=_absent_when_none,
    )


class QuotaResolvedData(QuotaEventData):
    state: Literal["ok", "warning"] = Field(description="The state now.")
    previous_state: Literal["exceeded", "overage", "blocked"] = Field(
        description="The over-limit state last sent for this meter."
    )


# -- Purchases, charges, job slots, periods ----------------------------------


class PurchaseGrant(BaseModel):
    meter: str = Field(description="Meter code.", examples=["bandwidth"])
    amount: int = Field(
        description=(
            "Capacity added, in the meter's unit (bytes, seconds, slots); for "
            "counters a top-up balance used after the monthly allowance."
        ),
        examples=[100000000000],
    )


class PurchaseInfo(BaseModel):
    id: int = Field(description="The purchase's id in this service.", examples=[318])
    pack: str = Field(description="Pack code.", examples=["bandwidth-100gb-once"])
    name: str = Field(description="Pack name as sold.", examples=["Bandwidth +100 GB"])
    kind: PurchaseKind = Field(
        description="A first purchase, or the renewal of an earlier term."
    )
    subscription: bool = Field(description="The pack is a renewable subscription.")
    starts_at: datetime = Field(
        description="Start of the term (UTC).",
        examples=["2026-04-24T08:30:12.902448Z"],
    )
    expires_at: datetime = Field(
        description="End of the term (UTC): its capacity stops counting then.",
        examples=["2027-04-24T08:30:12.902448Z"],
    )
    price_cents: int = Field(
        description="List price in cents, before tax.", examples=[700]
    )
    grants: list[PurchaseGrant] = Field(description="Capacity per meter.")
    renewal_of: int | None = Field(
        description="For a renewal, the id of the purchase (term) it renews.",
        examples=[None],
    )
    renewed_by: int | None = Field(
        default=None,
        description=(
            "`purchase.expired` only: the id of the renewal that took over at "
            "`expires_at`, or null when the term lapsed."
        ),
        examples=[None],
    )


class PurchaseEventData(BaseModel):
    account: str | None = _account()
    purchase: PurchaseInfo


class ChargeInfo(BaseModel):
    id: int = Field(description="The charge's id in this service.", examples=[902])
    kind: ChargeKind = Field(description="`refund` for a refund's own row.")
    amount_cents: int = Field(
        description="Gross amount in cents, tax included; negative for a refund.",
        examples=[854],
    )
    currency: str = Field(description="ISO 4217 code.", examples=["USD"])
    status: ChargeStatus


class ChargeRefundedData(BaseModel):
    account: str | None = _account()
    charge: ChargeInfo = Field(
        description="The charge refunded, as recorded (`void` when voided)."
    )
    refunded_cents: int = Field(
        description="Paid back, in cents: up to the charge's amount; 0 when voided.",
        examples=[300],
    )
    voided: bool = Field(
        description="A pending charge was cancelled: nothing had been collected."
    )
    refund: ChargeInfo | None = Field(
        description="The refund's own ledger row (negative amount); null when voided."
    )
    reason: str = Field(
        description="The reason shown to the customer.",
        examples=["Bought by mistake"],
    )
    purchase_id: int | None = Field(
        description="The purchase whose capacity ended with the refund, if any.",
        examples=[318],
    )


class JobSlotEventData(BaseModel):
    account: str | None = _account()
    job_ids: list[str] = Field(
        description="The platform's job ids, as given when the slots were allocated.",
        examples=[["job-7", "job-8"]],
    )
    used: int = Field(description="Active slots after the change.", examples=[5])
    limit: int = Field(description="The slot limit now.", examples=[5])
    cause: str = Field(
        description="What changed the capacity, in words for people.",
        examples=["5 job slots expired"],
    )


class PeriodOverageCharge(BaseModel):
    id: int = Field(description="The charge's id in this service.", examples=[1207])
    meter: str = Field(description="Meter code.", examples=["bandwidth"])
    amount_cents: int = Field(
        description="Gross amount in cents, tax included.", examples=[110]
    )
    currency: str = Field(description="ISO 4217 code.", examples=["USD"])
    status: ChargeStatus


class PeriodClosedData(BaseModel):
    account: str | None = _account()
    period_start: date = Field(
        description="First day of the month closed.", examples=["2026-04-01"]
    )
    period_end: date = Field(
        description="First day of the next month (exclusive).",
        examples=["2026-05-01"],
    )
    overage_charges: list[PeriodOverageCharge] = Field(
        description="One charge per meter with billable consented overage."
    )
    overage_total_cents: int = Field(
        description="Sum of the charges' amounts, in cents.", examples=[110]
    )


# -- Events ------------------------------------------------------------------

ONCE_A_PERIOD = "Sent once per account, meter and period."

# Type -> (data model, summary, when it is sent).
EVENTS: dict[str, tuple[type[BaseModel], str, str]] = {
    EventType.QUOTA_WARNING: (
        QuotaWarningData,
        "80% of a limit used",
        ONCE_A_PERIOD,
    ),
    EventType.QUOTA_EXCEEDED: (
        QuotaExceededData,
        "A limit reached",
        "With no overage consent, or on a hard limit (job slots: all in use). "
        + ONCE_A_PERIOD,
    ),
    EventType.QUOTA_OVERAGE_STARTED: (
        QuotaOverageStartedData,
        "Usage past the limit is billed as overage",
        "Under a live consent, below its cap. " + ONCE_A_PERIOD,
    ),
    EventType.QUOTA_BLOCKED: (
        QuotaBlockedData,
        "A meter is blocked",
        "The consent's cap is reached, or staff blocked the account (then one "
        "event per meter). " + ONCE_A_PERIOD,
    ),
    EventType.QUOTA_RESOLVED: (
        QuotaResolvedData,
        "Back under the limit",
        "A meter last told over its limit is back to `ok` or `warning` (a pack "
        "bought, storage deleted, a slot released, a block lifted, a new "
        "month). Sent at each return.",
    ),
    EventType.JOB_SLOT_SUSPENDED: (
        JobSlotEventData,
        "Job postings suspended",
        "Slot capacity dropped below the active postings (a slot pack expired, "
        "was refunded or revoked): the newest past the limit are suspended. "
        "Sent per change.",
    ),
    EventType.JOB_SLOT_REACTIVATED: (
        JobSlotEventData,
        "Suspended job postings active again",
        "Capacity came back (a pack bought, a slot released): suspended "
        "postings are active again, oldest first. Sent per change.",
    ),
    EventType.PURCHASE_COMPLETED: (
        PurchaseEventData,
        "A pack bought or renewed",
        "Paid (a declined payment sends nothing). Sent once per purchase.",
    ),
    EventType.PURCHASE_EXPIRING: (
        PurchaseEventData,
        "A purchase ends soon",
        "Its term ends within 7 days, then within 1 day, and it was not "
        "renewed. Sent once per purchase and reminder.",
    ),
    EventType.PURCHASE_EXPIRED: (
        PurchaseEventData,
        "A purchase's term ended",
        "`timestamp` is the end of the term. Sent once per purchase.",
    ),
    EventType.CHARGE_REFUNDED: (
        ChargeRefundedData,
        "A charge refunded or voided",
        "Staff refunded a charge in full or in part, or voided a pending one. "
        "Sent once per charge.",
    ),
    EventType.PERIOD_CLOSED: (
        PeriodClosedData,
        "A month closed",
        "Its consented overage is charged. Sent once per account with usage or "
        "an overage consent in the month.",
    ),
}


class EventEnvelope(BaseModel):
    id: str = Field(
        description=(
            "Unique per event, equal to the `webhook-id` header and the same on "
            "every attempt: deduplicate on it."
        ),
        examples=["evt_3f1c9a0e5b7d4e2a9c8b6d4f2e0a1b3c"],
    )
    type: str
    timestamp: datetime = Field(
        description="When the change happened (UTC), not when this request was sent.",
        examples=["2026-04-16T12:00:03.418207Z"],
    )


def _exactly(value: str) -> Any:
    """The type of a field that holds ``value`` and nothing else."""
    return Literal[value]


def _model_name(event_type: str) -> str:
    """``quota.overage_started`` -> ``QuotaOverageStartedEvent``."""
    return "".join(p.title() for p in re.split(r"[._]", event_type)) + "Event"


ENVELOPES: dict[str, type[BaseModel]] = {
    str(event_type): create_model(
        _model_name(event_type),
        __base__=EventEnvelope,
        __doc__=f"{summary}. {description}",
        type=(_exactly(str(event_type)), Field(description="The event type.")),
        data=(data, Field(description="What changed, always with `account`.")),
    )
    for event_type, (data, summary, description) in EVENTS.items()
}


def _headers() -> list[dict[str, Any]]:
    def header(name: str, description: str, schema: dict) -> dict[str, Any]:
        return {
            "name": name,
            "in": "header",
            "required": True,
            "description": description,
            "schema": schema,
        }

    return [
        header(
            "webhook-id",
            "The event's `id`; the same on every attempt.",
            {"type": "string", "examples": ["evt_3f1c9a0e5b7d4e2a9c8b6d4f2e0a1b3c"]},
        ),
        header(
            "webhook-timestamp",
            "When this attempt was signed, in whole seconds since the Unix epoch. "
            "Refuse it when more than 5 minutes away from your clock.",
            {"type": "string", "pattern": "^[0-9]+$", "examples": ["1776340800"]},
        ),
        header(
            "webhook-signature",
            "`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}."
            "{body}` under the endpoint's secret. During a secret rotation two "
            "signatures, separated by a space: accept the request if one matches.",
            {
                "type": "string",
                "pattern": r"^v1,[A-Za-z0-9+/=]+( v1,[A-Za-z0-9+/=]+)*$",
            },
        ),
    ]


def webhooks_openapi() -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``webhooks`` map and the component schemas it refers to."""
    refs, definitions = models_json_schema(
        [(model, "validation") for model in ENVELOPES.values()],
        ref_template=REF_TEMPLATE,
    )
    timeout = settings.BILLING_WEBHOOK_TIMEOUT_SECONDS
    webhooks = {}
    for event_type, model in ENVELOPES.items():
        _, summary, description = EVENTS[event_type]
        webhooks[event_type] = {
            "post": {
                "operationId": "webhook_" + re.sub(r"\W", "_", event_type),
                "summary": summary,
                "description": description,
                "parameters": _headers(),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": refs[(model, "validation")]}
                    },
                },
                "responses": {
                    "2XX": {"description": "Received: the delivery is done."},
                    "default": {
                        "description": (
                            "Anything else (a 3xx too: redirects are not "
                            f"followed), or no answer within {timeout:g} s: the "
                            "delivery is retried."
                        )
                    },
                },
            }
        }
    return webhooks, definitions.get("$defs", {})


def add_webhooks(document: dict[str, Any]) -> dict[str, Any]:
    """The API's document with the webhooks and their schemas added."""
    webhooks, definitions = webhooks_openapi()
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    clashes = sorted(name for name in definitions if name in schemas)
    if clashes:
        raise ValueError(f"Webhook schema names taken by the API: {clashes}")
    schemas.update(definitions)
    document["webhooks"] = webhooks
    return document


class ApiWithWebhooks(NinjaAPI):
    """django-ninja's API whose OpenAPI document also lists the webhooks."""

    def get_openapi_schema(self, **kwargs: Any) -> Any:
        return add_webhooks(super().get_openapi_schema(**kwargs))
