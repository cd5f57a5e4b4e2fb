"""WSGI entry points: the API and the browser site get their own middleware.

The platform's services call ``/api/`` and ``/healthz`` on every upload and
stream; they send no cookies and need no sessions, CSRF, messages or htmx.
Django reads one ``MIDDLEWARE`` list per handler, so the API is served by a
second handler built with ``API_MIDDLEWARE`` and the WSGI application routes
each request by path. The same routing serves ``runserver`` (through
``WSGI_APPLICATION``) and gunicorn, so development and production agree.
"""

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase

# Paths served without the browser middleware.
API_PREFIXES = ("/api/", "/healthz")
# ``make bench`` mounts its bare reference endpoints here, and only there.
BENCH_PREFIX = "/bench/"


class LeanWSGIHandler(WSGIHandler):
    """A WSGI handler with its own middleware list and, optionally, URLconf."""

    def __init__(self, *, middleware: Sequence[str], urlconf: str | None = None):
        self.middleware = list(middleware)
        self.urlconf = urlconf
        super().__init__()

    def load_middleware(self, is_async: bool = False) -> None:
        # BaseHandler builds the chain from settings.MIDDLEWARE only; swap the
        # list in while it does (once, at startup, before any request).
        configured = settings.MIDDLEWARE
        settings.MIDDLEWARE = self.middleware
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = configured

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        if self.urlconf is not None:
            request.urlconf = self.urlconf
        return super().get_response(request)


StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def path_router(*, site: WSGIApp, api: WSGIApp, bench: WSGIApp | None) -> WSGIApp:
    """One WSGI application that sends each request to the right handler."""

    def application(environ: dict[str, Any], start_response: StartResponse):
        path = environ.get("PATH_INFO", "")
        if path.startswith(API_PREFIXES):
            return api(environ, start_response)
        if bench is not None and path.startswith(BENCH_PREFIX):
            return bench(environ, start_response)
        return site(environ, start_response)

    return application


def build_application() -> WSGIApp:
    bench = None
    if os.environ.get("BENCH") == "1":
        # No middleware, no key, no checks: the floor the benchmark compares
        # the real endpoints with (bench/urls.py).
        bench = LeanWSGIHandler(middleware=[], urlconf="bench.urls")
    return path_router(
        site=WSGIHandler(),
        api=LeanWSGIHandler(middleware=settings.API_MIDDLEWARE),
        bench=bench,
    )
