"""Alerts and job slots in the admin: dismissed and released through their
services.
"""

import pytest

from billing.models import (
    Alert,
    JobSlot,
)
from billing.services.job_slots import allocate_job_slot
from tests.factories.billing import (
    company_account,
)

from .helpers import (
    MID_APRIL,
    history,
    url,
)

pytestmark = pytest.mark.django_db


@pytest.mark.time_machine(MID_APRIL)
def test_dismiss_alert_action(admin_client, populated):
    alert = Alert.objects.first()

    admin_client.post(
        url(Alert, "changelist"),
        {"action": "dismiss_selected", "_selected_action": [alert.pk]},
    )

    alert.refresh_from_db()
    assert alert.dismissed_at is not None
    assert history(alert) == ["Dismissed."]


def test_release_job_slot_action(admin_client):
    account = company_account()
    slot = allocate_job_slot(account=account, job_ref="job-9").slot

    admin_client.post(
        url(JobSlot, "changelist"),
        {"action": "release_selected", "_selected_action": [slot.pk]},
    )

    slot.refresh_from_db()
    assert slot.status == JobSlot.Status.RELEASED
    assert history(slot) == ["Released."]
