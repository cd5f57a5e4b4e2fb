"""What the ingestion tests share: April 2025, an event, a counter's usage."""

from datetime import UTC, date, datetime

from billing.models import UsageCounter
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
