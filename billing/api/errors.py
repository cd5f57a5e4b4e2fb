"""One error envelope for every API failure (see docs/api.md).

``{"error": {"code", "message", "details"}}`` whatever went wrong: a domain
``BillingError`` (its ``code`` is the API code), a schema error, malformed
JSON, a missing key, an unknown URL, a wrong method, a body over 1 MiB or a
bug. ``guard.py`` wraps every API URL so even failures Django or ninja answer
outside the handlers (405, unknown paths, oversize bodies) keep the shape.
"""

import json
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from config.db_errors import is_database_unavailable

from ..errors import BillingError

logger = logging.getLogger("billing.api")

MAX_BODY_BYTES = 1024 * 1024  # bodies over 1 MiB get 413 (docs/api.md)


def error_response(
    status: int, code: str, message: str, details: Any = None
) -> HttpResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return HttpResponse(
        json.dumps(body, default=str), status=status, content_type="application/json"
    )


def _field_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ninja's pydantic errors as [{"field", "code", "message"}, ...].

    ``loc`` is (source, param name, *path) for bodies and (source, name) for
    path parameters; an error inside ``events`` also gets its ``index``.
    """
    details = []
    for error in errors:
        loc = list(error.get("loc", ()))
        source = loc[0] if loc else "body"
        path = loc[2:] if source == "body" else loc[1:]
        item: dict[str, Any] = {
            "field": ".".join(str(part) for part in path) or source,
            "location": source,
            "code": error.get("type", "invalid"),
            "message": error.get("msg", "Invalid value."),
        }
        if len(path) >= 2 and path[0] == "events" and isinstance(path[1], int):
            item["index"] = path[1]
        details.append(item)
    return details


def billing_error(exc: BillingError) -> HttpResponse:
    return error_response(exc.status, exc.code, exc.message, exc.details)


def _on_billing_error(request: HttpRequest, exc: BillingError) -> HttpResponse:
    return billing_error(exc)


def schema_error(errors: list[dict[str, Any]]) -> HttpResponse:
    """422 for pydantic errors located as ninja locates them:
    ``("body", <param>, *path)`` or ``("path", <name>)``."""
    return error_response(
        422,
        "invalid_request",
        "The request does not match the schema.",
        _field_errors(errors),
    )


def _on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return schema_error(exc.errors)


def unreadable_body(cause: ValueError | RecursionError) -> HttpResponse:
    """422 for a body that is not JSON at all (a JSON or UTF-8 decoding
    error), or nested deeper than the parser goes."""
    if isinstance(cause, RecursionError):
        return error_response(
            422, "invalid_request", "The request body is nested too deeply."
        )
    return error_response(
        422, "invalid_request", "The request body is not valid JSON.", str(cause)
    )


def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    cause = exc.__cause__
    if isinstance(cause, RequestDataTooBig):
        return too_large()
    if isinstance(cause, ValueError | RecursionError):
        return unreadable_body(cause)
    if isinstance(exc, AuthenticationError) or exc.status_code == 401:
        return unauthorized()
    return error_response(exc.status_code, "http_error", exc.message)


def _on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return not_found(request)


def unexpected_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    """503 when the database cannot answer now, else a logged 500."""
    if is_database_unavailable(exc):
        logger.warning(
            "Database unavailable: %s %s", request.method, request.path, exc_info=exc
        )
        return service_unavailable()
    logger.exception("API request failed: %s %s", request.method, request.path)
    return internal_error()


def install_error_handlers(api: NinjaAPI) -> None:
    # Through ninja's decorator: ``add_exception_handler`` types a handler's
    # argument as the class or an instance, though ninja passes instances.
    api.exception_handler(BillingError)(_on_billing_error)
    api.exception_handler(ValidationError)(_on_validation_error)
    api.exception_handler(HttpError)(_on_http_error)
    api.exception_handler(Http404)(_on_not_found)
    api.exception_handler(Exception)(unexpected_error)


def not_found(request: HttpRequest) -> HttpResponse:
    return error_response(404, "not_found", f"No API resource at {request.path}.")


def unauthorized() -> HttpResponse:
    return error_response(
        401,
        "unauthorized",
        "A valid API key is required: 'Authorization: Bearer <key>'.",
    )


def too_large() -> HttpResponse:
    return error_response(
        413,
        "payload_too_large",
        f"The request body is larger than {MAX_BODY_BYTES} bytes (1 MiB).",
        {"max_bytes": MAX_BODY_BYTES},
    )


def service_unavailable() -> HttpResponse:
    response = error_response(
        503,
        "service_unavailable",
        "The service is busy or its database is unreachable; nothing was "
        "recorded. Retry after the time in the Retry-After header.",
        {"retry_after_seconds": settings.RETRY_AFTER_SECONDS},
    )
    response["Retry-After"] = str(settings.RETRY_AFTER_SECONDS)
    return response


def internal_error() -> HttpResponse:
    return error_response(
        500, "internal_error", "Something went wrong on our side; it was logged."
    )


def unknown_path(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Anything under /api/v1/ that no route matched."""
    return not_found(request)
