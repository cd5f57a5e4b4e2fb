"""The checks every API request passes before its handler, in a fixed order.

1. the key (401): a caller without a valid key learns nothing else, not
   even whether its body was too large. Its body is not read either, but
   on ``authorize`` (``key_in_view``): there a small body (at most
   ``DEFERRED_KEY_MAX_BYTES``, declared) is parsed before the one statement
   that checks the key and reads the facts, and the answer is still 401;
2. the body size (413), from ``Content-Length`` before anything is read, or
   by reading at most 1 MiB + 1 byte of a chunked body;
3. the media type (415): a request with a body must send
   ``application/json`` (parameters such as ``charset`` allowed); requests
   without a body are exempt;
4. the body itself (422), in the handler (``JsonParser``).

Whatever then fails keeps the error envelope: 404, 405, a database that is
unreachable, overloaded or timed out on a lock (503 with ``Retry-After``,
nothing written: every service runs in one transaction) and bugs (500).
"""

import json
from collections.abc import Callable
from functools import wraps
from io import BytesIO
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponseBase
from django.utils.csp import CSP, build_policy
from ninja.parser import Parser

from ..models import ApiKey
from .errors import (
    MAX_BODY_BYTES,
    error_response,
    not_found,
    too_large,
    unauthorized,
    unexpected_error,
)

Authenticate = Callable[[str], Any]


class ApiRequest(HttpRequest):
    """A request under ``guard``, with what it learnt of the key (the
    handlers of ninja's own test client see none of it)."""

    api_token: str  # the Bearer key as sent, or ""
    api_key: ApiKey  # the live key, once the guard has looked it up
    api_key_checked: bool  # the key was checked: no lookup is due after the view


# ``key_in_view``: the largest declared body parsed before the key is known
# (an authorize body is about 40 bytes); anything larger, or chunked, is
# refused or accepted only after the key's own lookup.
DEFERRED_KEY_MAX_BYTES = 4096


def bearer_token(request: HttpRequest) -> str:
    """The key of ``Authorization: Bearer <key>``, or "" when absent."""
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _is_json(content_type: str) -> bool:
    return content_type.partition(";")[0].strip().lower() == "application/json"


def _declared_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


class MalformedBody(Exception):
    """The chunked encoding itself is broken (the server could not de-chunk it)."""


def _read_chunked(request: HttpRequest) -> int:
    """Read a chunked body (no Content-Length) into the request, up to the limit.

    Django reads only ``Content-Length`` bytes, so a chunked body would look
    empty; gunicorn de-chunks ``wsgi.input``, which is read here directly.
    Returns the length read, or MAX_BODY_BYTES + 1 when it is longer.
    """
    stream = request.META.get("wsgi.input")
    try:
        data = stream.read(MAX_BODY_BYTES + 1) if stream is not None else b""
    except Exception as error:  # the server's parse error: its class is its own
        raise MalformedBody(str(error)) from error
    if len(data) > MAX_BODY_BYTES:
        return len(data)
    request._body = data  # noqa: SLF001 - what HttpRequest.body caches
    request._stream = BytesIO(data)  # noqa: SLF001
    request.META["CONTENT_LENGTH"] = str(len(data))
    return len(data)


def _refusal(request: HttpRequest) -> HttpResponseBase | None:
    """413 or 415 for this request's body, or None when it may be parsed."""
    length = _declared_length(request)
    if length is None:
        return error_response(
            400, "invalid_request", "The Content-Length header is not a number."
        )
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if chunked and not request.META.get("CONTENT_LENGTH"):
        if not request.META.get("wsgi.input_terminated"):
            # A server that does not de-chunk its input (runserver's wsgiref)
            # would hand over the raw stream, and reading it would wait for
            # ever: say so instead.
            return error_response(
                411,
                "length_required",
                "This server needs a Content-Length; send the body unchunked.",
            )
        try:
            length = _read_chunked(request)
        except MalformedBody as error:
            return error_response(
                400, "invalid_request", "The chunked body is malformed.", str(error)
            )
    if length > MAX_BODY_BYTES:
        return too_large()
    content_type = request.META.get("CONTENT_TYPE", "")
    if length and not _is_json(content_type):
        return error_response(
            415,
            "unsupported_media_type",
            "Send the body as JSON with 'Content-Type: application/json'.",
            {"content_type": content_type or None},
        )
    return None


def guard(
    view: Callable[..., HttpResponseBase],
    *,
    authenticate: Authenticate | None,
    check_body: bool = True,
    key_in_view: bool = False,
) -> Callable[..., HttpResponseBase]:
    """Wrap an API URL with the checks above; ``authenticate=None`` is public,
    and ``check_body=False`` (unknown URLs) leaves the body alone.

    The key found is left on ``request.api_key`` for the handler's own auth
    class, so it is looked up once. With ``key_in_view`` the view checks the
    key itself, in its first statement (``request.api_token``; it sets
    ``request.api_key_checked``): one round trip fewer on the busiest call.
    Whatever the view answers before that, the key is checked here first, so
    a caller without a key still only ever learns 401.
    """

    @wraps(view)
    def guarded(request: ApiRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            token = bearer_token(request)
            request.api_token = token
            deferred = key_in_view and _small_declared_body(request)
            if authenticate is not None and not deferred:
                key = authenticate(token)
                if key is None:
                    return unauthorized()
                request.api_key = key
                request.api_key_checked = True
            response = _refusal(request) if check_body else None
            if response is None:
                response = view(request, *args, **kwargs)
            if (
                authenticate is not None
                and not getattr(request, "api_key_checked", False)
                and authenticate(token) is None
            ):
                return unauthorized()
        except Http404:
            return not_found(request)
        except RequestDataTooBig:
            return too_large()
        except Exception as error:
            if authenticate is not None and not _key_checked(request, authenticate):
                return unauthorized()
            return unexpected_error(request, error)
        return _enveloped(request, response)

    return guarded


def _small_declared_body(request: HttpRequest) -> bool:
    length = _declared_length(request)
    return length is not None and 0 < length <= DEFERRED_KEY_MAX_BYTES


def _key_checked(request: HttpRequest, authenticate: Authenticate) -> bool:
    """After a failure in a view that checks the key itself: was the key
    checked, or is it live? (A database that is down answers 503 either way.)"""
    if getattr(request, "api_key_checked", False):
        return True
    try:
        return authenticate(getattr(request, "api_token", "")) is not None
    except Exception:
        return True  # let the original error answer (503 or 500)


def _enveloped(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    """405 in the error envelope; the CSP header on the HTML docs page."""
    content_type = response.get("Content-Type", "")
    if response.status_code == 405 and not _is_json(content_type):
        allowed = response.get("Allow", "")
        enveloped = error_response(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed here; use {allowed}.",
            {"allowed": [m.strip() for m in allowed.split(",") if m.strip()]},
        )
        enveloped["Allow"] = allowed
        return enveloped
    if content_type.startswith("text/html"):
        # The docs page: the API handler runs without the CSP middleware
        # (JSON needs no policy), but every HTML page carries one.
        response.headers.setdefault(
            str(CSP.HEADER_ENFORCE), build_policy(settings.SECURE_CSP)
        )
    return response


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"The key {key!r} appears twice in one JSON object.")
            seen.add(key)
    return obj


class JsonParser(Parser):
    """JSON bodies where a key given twice is an error, not "last one wins".

    A payload whose meaning depends on which duplicate a parser keeps could
    be read one way here and another way by a proxy or a log pipeline.
    """

    def parse_body(self, request: HttpRequest) -> Any:
        return json.loads(request.body, object_pairs_hook=_unique_keys)
