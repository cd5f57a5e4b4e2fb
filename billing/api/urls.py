"""URLs under /api/v1/: the ninja API, then a JSON 404 for anything else.

Every pattern is wrapped by ``guard`` (guard.py): the key, the size and the
media type are checked in that order before a handler runs, and 404, 405,
413, 503 and 500 keep the error envelope. The OpenAPI document and its docs
page are public.
"""

from django.urls import URLPattern, URLResolver, path, re_path

from ..models import ApiKey
from ..selectors import find_live_api_key
from .errors import unknown_path
from .guard import guard
from .views import api, authorize_lean

PUBLIC = {"openapi-json", "openapi-view"}


def _live_key(token: str) -> ApiKey | None:
    return find_live_api_key(raw_key=token)


def _guarded(patterns: list) -> list:
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            public = pattern.name in PUBLIC
            pattern.callback = guard(
                pattern.callback, authenticate=None if public else _live_key
            )
        elif isinstance(pattern, URLResolver):
            _guarded(pattern.url_patterns)
    return patterns


api_patterns, api_app_name, api_namespace = api.urls
# Every operation as ninja dispatches it.
ninja_urlpatterns = [path("", (_guarded(api_patterns), api_app_name, api_namespace))]
urlpatterns = [
    # The busiest call, answered without ninja's dispatch (views.py); the
    # ninja operation at the same path documents it in the OpenAPI schema.
    path(
        "accounts/<str:external_id>/authorize",
        guard(authorize_lean, authenticate=_live_key, key_in_view=True),
    ),
    *ninja_urlpatterns,
    # An unknown URL is 404 with or without a key: it is not an endpoint.
    re_path(r"^.*$", guard(unknown_path, authenticate=None, check_body=False)),
]
