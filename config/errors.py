"""The site's answer to an uncaught error: 503 when the database is the cause.

A database that is down, out of connections or timed out on a lock is a
passing condition, not a bug: the user gets a "try again" page with
``Retry-After`` instead of a 500. Django calls ``handler500`` from inside the
``except`` block, so the exception is still in ``sys.exc_info()`` here,
whichever middleware or view raised it. The page renders without a request
context, whose processors would query the database.
"""

import sys

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views import defaults

from .db_errors import is_database_unavailable


def server_error(request: HttpRequest) -> HttpResponse:
    # Django has already logged the exception with its traceback.
    if is_database_unavailable(sys.exc_info()[1]):
        page = render_to_string("503.html", {"path": request.get_full_path()})
        response = HttpResponse(page, status=503)
        response["Retry-After"] = str(settings.RETRY_AFTER_SECONDS)
        return response
    return defaults.server_error(request)
