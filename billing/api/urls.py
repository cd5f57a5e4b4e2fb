"""URLs under /api/v1/: the ninja API, then a JSON 404 for anything else.

Every pattern is wrapped by ``guard`` so that 404, 405, 413 and 500 keep the
error envelope.
"""

from django.urls import URLPattern, URLResolver, path, re_path

from .errors import guard, unknown_path
from .views import api


def _guarded(patterns: list) -> list:
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = guard(pattern.callback)
        elif isinstance(pattern, URLResolver):
            _guarded(pattern.url_patterns)
    return patterns


api_patterns, api_app_name, api_namespace = api.urls
urlpatterns = [
    path("", (_guarded(api_patterns), api_app_name, api_namespace)),
    re_path(r"^.*$", guard(unknown_path)),
]
