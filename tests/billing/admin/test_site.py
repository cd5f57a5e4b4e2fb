"""The admin as registered (billing/admin/__init__.py): every page loads
for a superuser with no query per row, facts stay read-only, and only
staff get in.
"""

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import (
    Account,
    GaugeLevel,
    OverageConsent,
    Purchase,
    UsageCounter,
    UsageEvent,
    UsageSnapshot,
)
from tests.factories.accounts import UserFactory
from tests.factories.billing import (
    ChargeRecordFactory,
    GrantFactory,
    company_account,
    personal_account,
)

from .helpers import (
    MID_APRIL,
    add_adjustment,
    buy,
    url,
)

pytestmark = pytest.mark.django_db


# Shown inside another model's pages, or bookkeeping with nothing to read:
# attempts are listed on their delivery; a quota notice only remembers what
# the platform was last told.
NOT_REGISTERED = {"billing.webhookattempt", "billing.quotanotice"}


def registered_models() -> list[type]:
    return [
        model
        for model in admin.site._registry
        if model._meta.app_label in {"accounts", "billing"}
    ]


def test_every_model_of_accounts_and_billing_is_registered():
    expected = {
        model
        for label in ("accounts", "billing")
        for model in apps.get_app_config(label).get_models()
        if model._meta.label_lower not in NOT_REGISTERED
    }
    assert expected <= set(admin.site._registry)


@pytest.mark.parametrize(
    "model", registered_models(), ids=lambda m: m._meta.label_lower
)
@pytest.mark.time_machine(MID_APRIL)
def test_changelist_and_change_page_load_for_a_superuser(
    admin_client, populated, model
):
    changelist = admin_client.get(url(model, "changelist"))
    assert changelist.status_code == 200

    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"no {model.__name__} in the fixture"
    change = admin_client.get(url(model, "change", obj.pk))
    assert change.status_code == 200

    model_admin = admin.site._registry[model]
    if model_admin.has_add_permission(change.wsgi_request):
        assert admin_client.get(url(model, "add")).status_code == 200


@pytest.mark.time_machine(MID_APRIL)
def test_no_changelist_does_more_queries_with_more_rows(admin_client, populated):
    """The N+1 guard for every model: ten more of everything, same count."""

    def counts() -> dict[str, int]:
        result = {}
        for model in registered_models():
            with CaptureQueriesContext(connection) as queries:
                assert admin_client.get(url(model, "changelist")).status_code == 200
            result[model._meta.label] = len(queries)
        return result

    before = counts()
    for i in range(10):
        buy(personal_account(), key=f"more-{i}")
        buy(company_account(), code="slots-5-once", key=f"more-slots-{i}")
        GrantFactory()
        ChargeRecordFactory()
        add_adjustment(personal_account())
    assert counts() == before


def test_a_non_staff_user_is_sent_to_the_admin_login(client):
    client.force_login(UserFactory())
    response = client.get(url(Account, "changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.time_machine(MID_APRIL)
def test_facts_are_read_only(admin_client, populated):
    for model in (
        UsageEvent,
        UsageCounter,
        GaugeLevel,
        UsageSnapshot,
        Purchase,
        OverageConsent,
    ):
        obj = model.objects.first()
        assert admin_client.get(url(model, "add")).status_code == 403, model
        page = admin_client.get(url(model, "change", obj.pk))
        assert 'name="_save"' not in page.content.decode(), model
        assert admin_client.post(url(model, "change", obj.pk), {}).status_code == 403
        assert admin_client.get(url(model, "delete", obj.pk)).status_code == 403
