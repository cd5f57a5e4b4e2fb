"""Factories for billing. Accounts come from their user/company (as in the app)."""

from datetime import datetime, timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from billing.models import (
    Account,
    ChargeRecord,
    EventType,
    Grant,
    JobSlot,
    Meter,
    OverageConsent,
    Pack,
    PackAllowance,
    Purchase,
    UsageSnapshot,
    WebhookEndpoint,
)
from billing.models.webhooks import new_signing_secret
from billing.services.accounts import default_plan
from billing.services.periods import close_billing_period
from billing.services.usage import (
    UsageEventInput,
    UsageRecordResult,
    record_usage_events,
)
from billing.units import GB, Period, period_of

from .accounts import CompanyFactory, MembershipFactory, UserFactory


def meter(code: str) -> Meter:
    return Meter.objects.get(code=code)


def personal_account(**user_kwargs) -> Account:
    """A signed-up user's account (created by the sign-up signal)."""
    return UserFactory(**user_kwargs).billing_account


def company_account(*, owner=None) -> Account:
    """A company account; its owner (created unless given) can manage it."""
    company = CompanyFactory()
    MembershipFactory(company=company, user=owner or UserFactory(), owner=True)
    return company.billing_account


def owner_of(account: Account):
    if account.user_id:
        return account.user
    return account.company.memberships.get(role="owner").user


def shift_term(purchase: Purchase, *, by: timedelta) -> Purchase:
    """Move a purchase's term (and its grants) earlier by ``by``, as if it had
    been bought that long ago; returns it refreshed."""
    Purchase.objects.filter(pk=purchase.pk).update(
        starts_at=purchase.starts_at - by, expires_at=purchase.expires_at - by
    )
    for grant in Grant.objects.filter(purchase=purchase):
        Grant.objects.filter(pk=grant.pk).update(
            effective_at=grant.effective_at - by,
            expires_at=None if grant.expires_at is None else grant.expires_at - by,
        )
    purchase.refresh_from_db()
    return purchase


def ending_soon(purchase: Purchase, *, days_left: int = 10) -> Purchase:
    """The purchase's term ends ``days_left`` days from now: inside the renewal
    window (renewal opens 30 days before a term ends)."""
    left = purchase.expires_at - timezone.now()
    return shift_term(purchase, by=left - timedelta(days=days_left))


class PlatformAccountFactory(DjangoModelFactory):
    """An account the platform created through the API (named by external_id)."""

    class Meta:
        model = Account

    kind = Account.Kind.USER
    name = factory.Sequence(lambda n: f"Platform account {n}")
    external_id = factory.Sequence(lambda n: f"acct_{n}")
    plan = factory.LazyFunction(default_plan)


class PackFactory(DjangoModelFactory):
    class Meta:
        model = Pack
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"pack-{n}")
    name = factory.Sequence(lambda n: f"Pack {n}")
    price_cents = 1000
    term_days = 365

    class Params:
        subscription = factory.Trait(kind=Pack.Kind.SUBSCRIPTION)
        slots = factory.Trait(category=Pack.Category.SLOTS, term_days=30)

    @factory.post_generation
    def lines(self, create, extracted, **kwargs):
        """lines={"storage": 10**9}: one allowance line per meter code."""
        for code, amount in (extracted or {}).items():
            PackAllowance.objects.create(pack=self, meter=meter(code), amount=amount)


class GrantFactory(DjangoModelFactory):
    class Meta:
        model = Grant

    account = factory.LazyFunction(personal_account)
    meter = factory.LazyFunction(lambda: meter("storage"))
    amount = 10**9
    effective_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))
    source = Grant.Source.ADJUSTMENT
    reason = "test"

    class Params:
        expired = factory.Trait(
            effective_at=factory.LazyFunction(
                lambda: timezone.now() - timedelta(days=40)
            ),
            expires_at=factory.LazyFunction(
                lambda: timezone.now() - timedelta(seconds=1)
            ),
        )
        revoked = factory.Trait(revoked_at=factory.LazyFunction(timezone.now))


class JobSlotFactory(DjangoModelFactory):
    class Meta:
        model = JobSlot

    class Params:
        released = factory.Trait(
            status=JobSlot.Status.RELEASED,
            released_at=factory.LazyFunction(timezone.now),
        )

    account = factory.LazyFunction(company_account)
    job_ref = factory.Sequence(lambda n: f"job-{n}")


class OverageConsentFactory(DjangoModelFactory):
    """A consent for the current period, given now, unless ``period`` (a
    ``Period``) names another: then for that period, given at its start."""

    class Meta:
        model = OverageConsent

    class Params:
        period = None
        revoked = factory.Trait(
            revoked_at=factory.LazyAttribute(lambda o: max(o.given_at, timezone.now()))
        )

    account = factory.LazyFunction(personal_account)
    meter = factory.LazyFunction(lambda: meter("bandwidth"))
    cap_cents = 10_000
    period_start = factory.LazyAttribute(
        lambda o: (o.period or period_of(timezone.now())).start
    )
    given_at = factory.LazyAttribute(
        lambda o: o.period.starts_at if o.period else timezone.now()
    )


class ChargeRecordFactory(DjangoModelFactory):
    """A pending adjustment; traits give the other states a row can reach.

    The ledger is insert-only, so a state is set when the row is written:
    ``paid`` (paid when created), ``failed``, ``void``, or ``refund``, a
    negative paid row for all of ``refund_of`` (a paid charge, made unless
    given) on that charge's account.
    """

    class Meta:
        model = ChargeRecord

    class Params:
        paid = factory.Trait(
            status=ChargeRecord.Status.PAID,
            paid_at=factory.SelfAttribute("created_at"),
        )
        failed = factory.Trait(
            status=ChargeRecord.Status.FAILED, failure_reason="Card declined"
        )
        void = factory.Trait(status=ChargeRecord.Status.VOID)
        refund = factory.Trait(
            kind=ChargeRecord.Kind.REFUND,
            status=ChargeRecord.Status.PAID,
            paid_at=factory.SelfAttribute("created_at"),
            refund_of=factory.SubFactory(
                "tests.factories.billing.ChargeRecordFactory",
                paid=True,
                created_at=factory.SelfAttribute("..created_at"),
            ),
            account=factory.LazyAttribute(lambda o: o.refund_of.account),
            amount_cents=factory.LazyAttribute(lambda o: -o.refund_of.amount_cents),
        )

    account = factory.LazyFunction(personal_account)
    kind = ChargeRecord.Kind.ADJUSTMENT
    amount_cents = 500
    status = ChargeRecord.Status.PENDING
    idempotency_key = factory.Sequence(lambda n: f"charge-{n}")
    created_at = factory.LazyFunction(timezone.now)


# The names the factories had before they were named after their models;
# kept for modules that still import them.


def closed_overage_charge(
    account: Account,
    *,
    period: Period,
    used_bytes: int,
    closed_at: datetime,
    event_id: str = "overage",
) -> ChargeRecord:
    """A consented bandwidth overage in ``period`` (consent from its start,
    ``used_bytes`` on its 12th), billed when the period closes at
    ``closed_at``: the pending overage charge."""
    OverageConsentFactory(account=account, meter=meter("bandwidth"), period=period)
    at = period.starts_at + timedelta(days=11)
    record_usage_events(
        events=[
            UsageEventFactory.build(
                id=event_id,
                account=account,
                meter="bandwidth",
                quantity=used_bytes,
                timestamp=at,
            )
        ],
        received_at=at,
    )
    close_billing_period(period=period, at=closed_at)
    return ChargeRecord.objects.get(account=account, kind=ChargeRecord.Kind.OVERAGE)


class UsageSnapshotFactory(DjangoModelFactory):
    """A day's snapshot as the nightly run writes it: yesterday's bandwidth,
    unused, against the free plan's limit."""

    class Meta:
        model = UsageSnapshot

    account = factory.LazyFunction(personal_account)
    meter = factory.LazyFunction(lambda: meter("bandwidth"))
    day = factory.LazyFunction(lambda: timezone.now().date() - timedelta(days=1))
    used = 0
    limit = 5 * GB
    state = "ok"


class WebhookEndpointFactory(DjangoModelFactory):
    """An endpoint that wants every event type (loopback URLs are allowed
    in tests: ``BILLING_WEBHOOK_PRIVATE_HOSTS``)."""

    class Meta:
        model = WebhookEndpoint

    url = "http://127.0.0.1:9/hooks"
    event_types = factory.LazyFunction(lambda: list(EventType.values))
    secret = factory.LazyFunction(new_signing_secret)


class UsageEventFactory(factory.Factory):
    """A usage event as the platform reports it (not yet recorded)."""

    class Meta:
        model = UsageEventInput

    id = factory.Sequence(lambda n: f"evt-{n}")
    account = factory.LazyFunction(personal_account)
    meter = "bandwidth"
    quantity = 1
    timestamp = None


def record_usage(
    account: Account, meter: str, quantity: int, at: datetime | None = None
) -> UsageRecordResult:
    """One event at ``at``, received then too, through ingestion; without
    ``at``, happening and received now (on whatever clock the test set)."""
    event = UsageEventFactory.build(
        account=account, meter=meter, quantity=quantity, timestamp=at
    )
    return record_usage_events(events=[event], received_at=at)
