"""Refuse a browser request whose body is too large before anything reads it.

Django bounds form fields (``DATA_UPLOAD_MAX_MEMORY_SIZE``) and streams
files to disk past ``FILE_UPLOAD_MAX_MEMORY_SIZE``, but it still reads a
whole multipart body, however large, and a form that then calls ``read()``
on a file holds it in memory. The largest legitimate upload (a theme: its
stylesheet and four preview images) is far below ``UPLOAD_MAX_REQUEST_BYTES``,
so anything declaring more is answered 413 from its ``Content-Length``, with
the body unread. This runs before the CSRF check, which would read the body.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string


class RequestSizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        limit = settings.UPLOAD_MAX_REQUEST_BYTES
        if declared > limit:
            page = render_to_string(
                "413.html", {"limit_mb": limit // (1024 * 1024), "back": request.path}
            )
            return HttpResponse(page, status=413)
        return self.get_response(request)
