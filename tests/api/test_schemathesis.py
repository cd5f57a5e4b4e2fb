"""Property-based contract check of /api/v1/openapi.json with schemathesis.

Runs in-process through Django's WSGI handler with a valid key: every
operation gets generated requests (bounded, a few hundred in all) and must
answer without a 5xx, with a documented status, content type and a body that
matches its schema. Known accounts are seeded so the examples reach past 404.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from billing.models import Account
from billing.services.api_keys import create_api_key
from tests.factories.billing import PlatformAccountFactory

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As Django's test client does: a finished request must not close the
    connection that holds the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(db) -> dict[str, str]:
    PlatformAccountFactory(external_id="a", kind=Account.Kind.USER)
    PlatformAccountFactory(external_id="0", kind=Account.Kind.COMPANY)
    return {"Authorization": f"Bearer {create_api_key(name='fuzz').raw_key}"}


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_conforms_to_its_openapi_document(case, bearer):
    case.call_and_validate(headers=bearer, checks=CHECKS)
