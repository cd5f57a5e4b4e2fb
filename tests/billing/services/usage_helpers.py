"""What the ingestion tests share: April 2025 (import ``april_2025`` into a
module and its tests receive their events then), an event, a level, a
counter's usage."""

from datetime import UTC, date, datetime

import pytest
import time_machine

from billing.models import GaugeLevel, UsageCounter
from billing.units import Period
from tests.factories.billing import UsageEventFactory, meter

NOW = datetime(2025, 4, 15, 12, 0, tzinfo=UTC)
APRIL = Period(date(2025, 4, 1))


def event(account, meter_code, quantity, **kwargs):
    """An event (``UsageEventFactory``), dated ``NOW`` unless told."""
    kwargs.setdefault("timestamp", NOW)
    return UsageEventFactory.build(
        account=account, meter=meter_code, quantity=quantity, **kwargs
    )


def used(account, meter_code, period=APRIL):
    counter = UsageCounter.objects.filter(
        account=account, meter=meter(meter_code), period_start=period.start
    ).first()
    return counter.used if counter else 0


def level(account, meter_code="storage"):
    row = GaugeLevel.objects.filter(account=account, meter=meter(meter_code)).first()
    return row.level if row else 0


@pytest.fixture(autouse=True)
def april_2025():
    """Events are dated in April 2025: receive them then, so "now" (which
    decides what is late, closed or in the future) is that month too."""
    with time_machine.travel(NOW, tick=False):
        yield
