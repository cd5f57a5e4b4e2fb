"""Request and response bodies of HTTP API v1 (see docs/api.md).

The schemas check shape only (types, lengths, the external_id alphabet);
every business rule stays in the services. A usage event's ``quantity`` is
left untyped on purpose: a non-integer quantity is the per-event code
``invalid_quantity`` that the service reports, not a schema error.
"""

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from pydantic import BaseModel, Field, StrictInt, field_validator

from ..services.usage import MAX_BATCH
from ..units import MAX_EVENT_QUANTITY

EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
# PostgreSQL text and jsonb cannot hold NUL: refuse it at the edge (a 422,
# the same on SQLite) instead of failing in the database.
NO_NUL = r"^[^\x00]*$"
ExternalId = Annotated[str, Field(pattern=EXTERNAL_ID_PATTERN, max_length=64)]
JobId = Annotated[str, Field(min_length=1, max_length=128, pattern=NO_NUL)]


def _text(min_length: int, max_length: int) -> Any:
    return Field(min_length=min_length, max_length=max_length, pattern=NO_NUL)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class ApiModel(BaseModel):
    """Plain pydantic models, not ninja's ``Schema``: a Schema runs a Python
    validator on every object (so it can read Django models), which the hot
    paths would pay per request and per event for nothing: the API reads
    and writes plain dicts."""


# Errors -----------------------------------------------------------------


class ErrorBody(ApiModel):
    code: str = Field(examples=["unknown_account"])
    message: str
    details: Any = None


class ErrorEnvelope(ApiModel):
    error: ErrorBody


# Accounts ---------------------------------------------------------------


class AccountIn(ApiModel):
    kind: Literal["user", "company"]
    name: str = _text(1, 200)
    email: str | None = Field(default=None, max_length=254, pattern=NO_NUL)

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str | None) -> str | None:
        if value:
            try:
                validate_email(value)
            except DjangoValidationError:
                raise ValueError("Enter a valid e-mail address.") from None
        return value


class AccountOut(ApiModel):
    external_id: str
    kind: Literal["user", "company"]
    name: str
    email: str
    plan: str
    hard_blocked: bool
    created_at: datetime


class OverageOut(ApiModel):
    consent: bool
    cap_cents: int | None
    accrued_cents: int


class QuotaOut(ApiModel):
    meter: str
    unit: str
    used: int
    limit: int
    remaining: int
    percent: float
    state: Literal["ok", "warning", "exceeded", "overage", "blocked"]
    overage: OverageOut


class QuotasOut(ApiModel):
    account: str
    period_start: date
    period_end: date = Field(description="First day of the next period (exclusive).")
    quotas: list[QuotaOut]


class AuthorizeIn(ApiModel):
    meter: str = _text(1, 40)
    quantity: StrictInt = Field(gt=0, le=MAX_EVENT_QUANTITY)


class AuthorizeOut(ApiModel):
    allowed: bool
    reason: Literal["quota_exceeded", "overage_confirmation_required", "blocked"] | None
    state: Literal["ok", "warning", "exceeded", "overage", "blocked"]
    remaining: int


# Usage events -----------------------------------------------------------


class UsageEventIn(ApiModel):
    id: str = _text(1, 128)
    account: str = _text(1, 64)
    meter: str = _text(1, 40)
    quantity: Any = Field(
        json_schema_extra={"type": "integer"},
        description=(
            "Non-zero integer, at most 10^15 in size; negative only for gauges. "
            "Anything else is reported per event as invalid_quantity."
        ),
    )
    timestamp: datetime | None = Field(
        default=None, description="ISO-8601; defaults to the time of receipt."
    )
    properties: dict[str, Any] | None = None

    @field_validator("properties")
    @classmethod
    def _storable(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value and _has_nul(value):
            raise ValueError("properties cannot contain NUL characters.")
        return value

    @field_validator("timestamp")
    @classmethod
    def _representable_in_utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            try:
                value.astimezone(UTC)
            except OverflowError:
                raise ValueError("timestamp is out of range.") from None
        return value


class UsageBatchIn(ApiModel):
    events: list[UsageEventIn] = Field(min_length=1, max_length=MAX_BATCH)


class UsageBatchOut(ApiModel):
    accepted: int
    duplicates: int


class EventError(ApiModel):
    index: int
    code: str
    message: str


# Job slots --------------------------------------------------------------


class JobSlotIn(ApiModel):
    job_id: JobId


class JobSlotAllocationOut(ApiModel):
    job_id: str
    status: Literal["active", "suspended"]
    used: int
    limit: int


class JobSlotOut(ApiModel):
    job_id: str
    status: Literal["active", "suspended"]
    allocated_at: datetime
    suspended_at: datetime | None


class JobSlotsOut(ApiModel):
    used: int
    limit: int
    slots: list[JobSlotOut]


class Health(ApiModel):
    status: Literal["ok"]
