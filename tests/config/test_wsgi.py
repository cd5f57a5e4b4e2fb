"""The production WSGI application routes the API past the browser middleware."""

import io
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.handlers.wsgi import WSGIHandler

from config.handlers import LeanWSGIHandler, path_router

pytestmark = pytest.mark.django_db


def call(app, path, *, method="GET", cookie=""):
    environ = {"PATH_INFO": path, "REQUEST_METHOD": method, "wsgi.input": io.BytesIO()}
    setup_testing_defaults(environ)
    environ["HTTP_HOST"] = "testserver"
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    seen = {}

    def start_response(status, headers, exc_info=None):
        # What a WSGI server insists on (wsgiref answers 500 otherwise).
        assert all(type(n) is str and type(v) is str for n, v in headers)
        seen["status"] = int(status.split()[0])
        seen["headers"] = headers

    response = app(environ, start_response)
    try:
        body = b"".join(response)
    finally:
        response.close()  # as a WSGI server does: resets the URLconf
    return seen["status"], dict(seen["headers"]), body


@pytest.fixture(scope="module")
def application():
    from django.conf import settings

    return path_router(
        site=WSGIHandler(),
        api=LeanWSGIHandler(middleware=settings.API_MIDDLEWARE),
        bench=None,
    )


def test_the_api_answers_without_sessions_or_csrf_cookies(application):
    status, headers, body = call(
        application, "/api/v1/accounts/x/quotas", cookie="sessionid=stolen"
    )
    assert status == 401  # the key decides, never a cookie
    assert b'"unauthorized"' in body
    assert "Cookie" not in headers.get("Vary", "")
    assert "Set-Cookie" not in headers


def test_healthz_is_served_by_the_api_handler(application):
    status, headers, body = call(application, "/healthz")
    assert (status, body) == (200, b'{"status": "ok"}')
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_browser_pages_keep_their_middleware(application):
    status, headers, _ = call(application, "/login/")
    assert status == 200
    assert "csrftoken" in headers.get("Set-Cookie", "")
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_the_api_docs_page_carries_a_content_security_policy(application):
    status, headers, _ = call(application, "/api/v1/docs")
    assert status == 200
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "nonce" not in policy  # no sentinel left over without the middleware


def test_the_bare_bench_endpoints_exist_only_in_bench_mode(application):
    status, _, _ = call(application, "/bench/bare")
    assert status == 404
    bench = path_router(
        site=WSGIHandler(),
        api=WSGIHandler(),
        bench=LeanWSGIHandler(middleware=[], urlconf="bench.urls"),
    )
    status, headers, body = call(bench, "/bench/bare")
    assert (status, body) == (200, b'{"ok": true}')
    assert "X-Frame-Options" not in headers
