"""authorize refuses quantities beyond the documented range (docs/api.md)."""

import pytest

from billing.models import UsageEvent
from billing.units import MAX_EVENT_QUANTITY
from tests.factories.billing import PlatformAccountFactory

from .conftest import error_of

pytestmark = pytest.mark.django_db

URL = "/api/v1/accounts/lim-1/authorize"


def test_the_largest_documented_quantity_is_answered(api):
    PlatformAccountFactory(external_id="lim-1")

    response = api.post(URL, {"meter": "bandwidth", "quantity": 10**15})

    assert MAX_EVENT_QUANTITY == 10**15
    assert response.status_code == 200
    assert response.json()["allowed"] is False


@pytest.mark.parametrize("quantity", [10**15 + 1, 10**18, 2**63, 10**40])
def test_a_quantity_above_ten_to_the_fifteen_is_invalid_request(api, quantity):
    PlatformAccountFactory(external_id="lim-1")

    response = api.post(URL, {"meter": "bandwidth", "quantity": quantity})

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert [d["field"] for d in error["details"]] == ["quantity"]
    assert not UsageEvent.objects.exists()
