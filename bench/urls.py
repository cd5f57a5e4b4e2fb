"""The bare reference endpoints, mounted at /bench/ only when BENCH=1.

``config.handlers`` serves them with no middleware at all: no key, no
schema, no rules. They are the floor the benchmark compares with.
"""

from django.urls import path

from .endpoints import bare, bare_insert

urlpatterns = [
    path("bench/bare", bare),
    path("bench/bare-insert", bare_insert),
]
