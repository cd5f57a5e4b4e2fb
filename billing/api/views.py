"""HTTP API v1 for the platform's services (see docs/api.md).

Each handler parses, calls one billing service or selector, and renders.
Rules live in ``billing.services`` and ``billing.selectors``; the errors
they raise carry the API code and status, and ``errors.py`` renders them.
"""

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from ninja import Path, Status
from ninja.security import HttpBearer
from pydantic import TypeAdapter
from pydantic import ValidationError as SchemaMismatch

from ..errors import BillingError, Unauthenticated
from ..models import Account, ApiKey
from ..quotas.hot import authorize_by_ids
from ..selectors import (
    account_quotas,
    api_key_hash,
    find_live_api_key,
    get_account,
    get_company_account,
    job_slot_overview,
)
from ..services.accounts import upsert_platform_account
from ..services.job_slots import allocate_job_slot, release_job_slot
from ..services.usage import UsageEventInput, record_usage_events
from ..units import period_of
from .errors import (
    billing_error,
    install_error_handlers,
    schema_error,
    unauthorized,
    unreadable_body,
)
from .guard import ApiRequest, JsonParser
from .schemas import (
    AccountIn,
    AccountOut,
    AuthorizeIn,
    AuthorizeOut,
    ErrorEnvelope,
    ExternalId,
    JobId,
    JobSlotAllocationOut,
    JobSlotIn,
    JobSlotsOut,
    QuotasOut,
    UsageBatchIn,
    UsageBatchOut,
)
from .webhooks_openapi import ApiWithWebhooks


class ApiKeyAuth(HttpBearer):
    """``Authorization: Bearer <key>``. Cookies and sessions are ignored.

    ``guard`` has already looked the key up (before reading the body, so a
    caller without a key learns nothing about size or media type); the
    lookup here only runs for a handler called without it.
    """

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        checked = getattr(request, "api_key", None)
        return checked if checked is not None else find_live_api_key(raw_key=token)


api = ApiWithWebhooks(
    title="Meterly platform API",
    version="1",
    description=(
        "Usage events, quotas, authorisation and job slots for the platform's "
        'services. Every error is `{"error": {"code", "message", '
        '"details"}}`.'
    ),
    urls_namespace="api-v1",
    openapi_url="/openapi.json",
    docs_url="/docs",
    auth=ApiKeyAuth(),
    parser=JsonParser(),
)
install_error_handlers(api)

# Error statuses every authenticated operation can answer with.
ERRORS = {401: ErrorEnvelope, 413: ErrorEnvelope, 422: ErrorEnvelope}


def json_response(body: dict[str, Any], *, status: int = 200) -> HttpResponse:
    """The hot endpoints answer with their body as built: it is typed by
    the service's result, so re-validating it against the response schema
    (which still documents it) would only cost time on every call."""
    return HttpResponse(
        json.dumps(body), status=status, content_type="application/json; charset=utf-8"
    )


def _account_json(account: Account) -> dict[str, Any]:
    return {
        "external_id": account.external_id,
        "kind": account.kind,
        "name": account.name,
        "email": account.email,
        "plan": account.plan.code,
        "hard_blocked": account.hard_blocked,
        "created_at": account.created_at,
    }


@api.put(
    "/accounts/{external_id}",
    response={200: AccountOut, 201: AccountOut, **ERRORS},
    tags=["accounts"],
    summary="Create or update an account",
)
def put_account(
    request: HttpRequest, external_id: Path[ExternalId], payload: AccountIn
):
    """201 when created, 200 when it existed (its kind cannot change)."""
    account, created = upsert_platform_account(
        external_id=external_id,
        kind=payload.kind,
        name=payload.name,
        email=payload.email or "",
    )
    return Status(201 if created else 200, _account_json(account))


@api.get(
    "/accounts/{external_id}/quotas",
    response={200: QuotasOut, 404: ErrorEnvelope, **ERRORS},
    tags=["accounts"],
    summary="Quotas of an account for the current period",
)
def get_quotas(request: HttpRequest, external_id: Path[ExternalId]):
    account = get_account(external_id=external_id)
    at = timezone.now()
    period = period_of(at)
    return {
        "account": account.external_id,
        "period_start": period.start,
        "period_end": period.end,
        "quotas": [
            {
                "meter": status.meter.code,
                "unit": status.meter.unit,
                "used": status.used,
                "limit": status.limit,
                "remaining": status.remaining,
                "percent": status.percent,
                "state": status.state,
                "overage": {
                    "consent": status.consent is not None,
                    "cap_cents": status.cap_cents,
                    "accrued_cents": status.accrued_cents,
                },
            }
            for status in account_quotas(account=account, at=at)
        ],
    }


@api.post(
    "/accounts/{external_id}/authorize",
    response={200: AuthorizeOut, 404: ErrorEnvelope, **ERRORS},
    tags=["accounts"],
    summary="May the account use this much more?",
)
def authorize(
    request: HttpRequest, external_id: Path[ExternalId], payload: AuthorizeIn
):
    """A read: nothing is recorded. Report the usage itself as an event.

    Documents the operation; requests are answered by ``authorize_lean``
    (urls.py), which gives the same answers through the same function.
    """
    return _authorization(external_id, payload, api_key_hash=None)


def _authorization(
    external_id: str, payload: AuthorizeIn, *, api_key_hash: str | None
) -> HttpResponse:
    result = authorize_by_ids(
        external_id=external_id,
        meter_code=payload.meter,
        quantity=payload.quantity,
        api_key_hash=api_key_hash,
    )
    return json_response(
        {
            "allowed": result.allowed,
            "reason": result.reason,
            "state": result.state,
            "remaining": result.remaining,
        }
    )


_EXTERNAL_ID = TypeAdapter(ExternalId)
_PARSER = JsonParser()


@csrf_exempt  # a key, not a cookie, authenticates it (as ninja's views)
def authorize_lean(request: ApiRequest, external_id: str) -> HttpResponse:
    """``POST /accounts/{external_id}/authorize`` without ninja's dispatch.

    The platform asks before every upload and stream. Ninja's per-request
    work (its operation and auth objects, a pydantic model built for the
    path and body together) cost a fifth of this call, and the key lookup a
    round trip of its own; here the same schemas validate the input, errors
    keep the same envelope and details (a test compares every answer with
    the ninja operation's), and the key is checked by the statement that
    reads the facts.
    """
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    payload = _authorize_input(request, external_id)
    if isinstance(payload, HttpResponse):
        return payload
    key_hash = api_key_hash(raw_key=request.api_token)
    # The statement checks the key: whatever it answers, the guard need not
    # look the key up again.
    request.api_key_checked = True
    if key_hash is None:
        return unauthorized()
    try:
        return _authorization(external_id, payload, api_key_hash=key_hash)
    except Unauthenticated:
        return unauthorized()
    except BillingError as error:
        return billing_error(error)


def _authorize_input(
    request: HttpRequest, external_id: str
) -> AuthorizeIn | HttpResponse:
    """The body as ``AuthorizeIn``, or the 422 ninja answers for the path and
    body: every error of both, located as ninja locates them."""
    errors: list[dict[str, Any]] = []
    try:
        _EXTERNAL_ID.validate_python(external_id)
    except SchemaMismatch as error:
        errors += _located(error, "path", "external_id")
    try:
        data = _PARSER.parse_body(request) if request.body else None
    except (ValueError, RecursionError) as error:
        return unreadable_body(error)
    payload = None
    if data is None and not request.body:
        errors.append(
            {"loc": ("body", "payload"), "type": "missing", "msg": "Field required"}
        )
    else:
        try:
            payload = AuthorizeIn.model_validate(data)
        except SchemaMismatch as error:
            errors += _located(error, "body", "payload")
    if errors or payload is None:
        return schema_error(errors)
    return payload


def _located(error: SchemaMismatch, *prefix: str) -> list[dict[str, Any]]:
    return [{**item, "loc": (*prefix, *item["loc"])} for item in error.errors()]


@api.post(
    "/usage/events",
    response={200: UsageBatchOut, **ERRORS},
    tags=["usage"],
    summary="Record a batch of 1-1000 usage events",
)
def post_usage_events(request: HttpRequest, payload: UsageBatchIn):
    """All or nothing; 422 lists every bad index. Resending an id is harmless."""
    result = record_usage_events(
        events=[
            UsageEventInput(
                id=event.id,
                account=event.account,
                meter=event.meter,
                quantity=event.quantity,
                timestamp=event.timestamp,
                properties=event.properties or {},
            )
            for event in payload.events
        ]
    )
    return json_response({"accepted": result.accepted, "duplicates": result.duplicates})


@api.post(
    "/accounts/{external_id}/job-slots",
    response={
        200: JobSlotAllocationOut,
        201: JobSlotAllocationOut,
        404: ErrorEnvelope,
        409: ErrorEnvelope,
        **ERRORS,
    },
    tags=["job slots"],
    summary="Allocate a job slot (idempotent per job id)",
)
def allocate_slot(
    request: HttpRequest, external_id: Path[ExternalId], payload: JobSlotIn
):
    """201 for a new slot, 200 when the job already holds one, 409 at the limit."""
    account = get_company_account(external_id=external_id)
    allocation = allocate_job_slot(account=account, job_ref=payload.job_id)
    body = {
        "job_id": allocation.slot.job_ref,
        "status": allocation.slot.status,
        "used": allocation.used,
        "limit": allocation.limit,
    }
    return json_response(body, status=201 if allocation.created else 200)


@api.delete(
    "/accounts/{external_id}/job-slots/{job_id}",
    response={204: None, 404: ErrorEnvelope, **ERRORS},
    tags=["job slots"],
    summary="Release a job slot (idempotent)",
)
def release_slot(
    request: HttpRequest, external_id: Path[ExternalId], job_id: Path[JobId]
):
    """204 also when already released; 404 when the job never held a slot."""
    account = get_company_account(external_id=external_id)
    release_job_slot(account=account, job_ref=job_id)
    return Status(204, None)


@api.get(
    "/accounts/{external_id}/job-slots",
    response={200: JobSlotsOut, 404: ErrorEnvelope, **ERRORS},
    tags=["job slots"],
    summary="Job slots held by a company account",
)
def list_slots(request: HttpRequest, external_id: Path[ExternalId]):
    account = get_company_account(external_id=external_id)
    overview = job_slot_overview(account=account)
    return {
        "used": overview.used,
        "limit": overview.limit,
        "slots": [
            {
                "job_id": slot.job_ref,
                "status": slot.status,
                "allocated_at": slot.allocated_at,
                "suspended_at": slot.suspended_at,
            }
            for slot in [*overview.active, *overview.suspended]
        ],
    }


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: no database, no auth."""
    return JsonResponse({"status": "ok"})
