"""Load the demo data: logins in every state, six months of history (see README).

Everything goes through the billing services, so the demo shows what the
code really does. The services always act "now"; where the story needs the
past (sign-up dates, posting dates, a lapsed pack, consents given months
ago) the rows are back-dated by hand, each place saying so. The whole seed is
one transaction: it is all there or not at all, so the staff user's presence
tells a rerun that there is nothing to do.
"""

import math
import time as clock
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from random import Random
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from accounts.models import Company, Membership, User
from billing.documents import pack_line, quote_charge
from billing.models import (
    Account,
    ChargeRecord,
    Grant,
    JobSlot,
    Pack,
    Purchase,
    TaxRate,
    UsageEvent,
    UsageSnapshot,
)
from billing.selectors import get_meter
from billing.services.accounts import create_company, sign_up_user
from billing.services.consents import give_overage_consent
from billing.services.documents import issue_invoice, save_billing_details
from billing.services.expirations import sweep_expirations
from billing.services.job_slots import allocate_job_slot, release_job_slot
from billing.services.packs import purchase_pack, renew_purchase
from billing.services.payments import pay_outstanding_balance
from billing.services.periods import close_billing_period
from billing.services.refunds import refund_charge
from billing.services.snapshots import take_usage_snapshots
from billing.services.usage import MAX_BATCH, UsageEventInput, record_usage_events
from billing.units import GB, Period, billed_days, period_of

HISTORY_DAYS = 180
# Globex's first 5-slot term ran from this long ago until 10 days ago.
LAPSED_TERM_STARTED = timedelta(days=40)
STAFF_EMAIL = "staff@example.com"


@dataclass(frozen=True, slots=True)
class Usage:
    """How one account used the platform.

    Storage: level when the history starts -> level now, in GB. Counters: the
    monthly total drifts from the first to the second value over the closed
    months; the ``*_now_*`` total so far this month is exact, as it decides
    the account's state.
    """

    storage_gb: tuple[float, float] = (0.0, 0.0)
    bandwidth_gb: tuple[float, float] = (0.0, 0.0)
    bandwidth_now_gb: float = 0.0
    transcoding_min: tuple[float, float] = (0.0, 0.0)
    transcoding_now_min: float = 0.0


@dataclass(frozen=True, slots=True)
class Login:
    email: str
    name: str
    role: str
    usage: Usage | None = None


LOGINS = [
    Login(STAFF_EMAIL, "Sam Staff", "staff, superuser (Django admin)"),
    Login(
        "ok@example.com",
        "Olivia Okafor",
        "personal: every meter ok (owns Storage +50 GB)",
        Usage((0.2, 0.6), (1.0, 2.2), 1.2, (10, 25), 12),
    ),
    Login(
        "warning@example.com",
        "Wes Warner",
        "personal: storage warning, 1.7 of 2 GB (its pack was refunded)",
        Usage((0.6, 1.7), (1.5, 2.5), 1.8, (20, 30), 20),
    ),
    Login(
        "exceeded@example.com",
        "Erin Exley",
        "personal: bandwidth exceeded, awaiting consent (card declined)",
        Usage((0.5, 1.1), (3.5, 5.8), 6.2, (15, 25), 18),
    ),
    Login(
        "overage@example.com",
        "Omar Overton",
        "personal: bandwidth overage under a $5.00 recurring cap; owes past months",
        Usage((0.8, 1.3), (6.0, 8.5), 7.0, (30, 40), 35),
    ),
    Login(
        "blocked@example.com",
        "Bea Blackwood",
        "personal: bandwidth blocked, $1.00 cap reached (25 GB of 5 GB)",
        Usage((0.3, 0.9), (2.0, 4.5), 25.0, (15, 25), 20),
    ),
    Login(
        "owner@example.com",
        "Otto Owens",
        'owner of "Acme" (2 of 2 free job slots), admin of "Globex"',
    ),
    Login("member@example.com", "Mia Member", 'plain member of "Acme"'),
    Login(
        "globex-owner@example.com",
        "Gloria Gomez",
        'owner of "Globex" (5-slot subscription, renewed)',
    ),
    Login(
        "creator@example.com",
        "Cole Creator",
        "theme creator: submits themes and sees earnings at /store/",
        Usage((0.1, 0.3), (0.2, 0.5), 0.3),
    ),
]

COMPANY_USAGE = {
    "Acme": Usage((1.0, 1.5), (2.0, 3.5), 2.5, (20, 40), 30),
    # Past transcoding runs over the 60 free minutes under a recurring consent.
    "Globex": Usage((0.5, 1.2), (3.0, 4.0), 3.0, (70, 95), 45),
}


class Command(BaseCommand):
    help = (
        "Create the demo logins, accounts in every quota state and six months "
        "of usage, snapshots and charges. Does nothing if already seeded."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password",
            default="demo",
            help="Password of every demo login (default: demo).",
        )

    def handle(self, *args: Any, password: str, **options: Any) -> None:
        staff = User.objects.filter(email=STAFF_EMAIL).first()
        if staff is None:
            self._check_database_is_fresh()
            started = clock.monotonic()
            # Alerts raised while seeding are not news to anyone: drop their
            # e-mails rather than print a dozen to the console.
            with (
                override_settings(
                    EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
                    BILLING_EMAIL_INVOICES=False,
                ),
                transaction.atomic(),
            ):
                DemoSeed(password=password, now=timezone.now()).run()
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo data created in {clock.monotonic() - started:.1f} s; "
                    f"the database holds {User.objects.count()} users, "
                    f"{UsageEvent.objects.count()} usage events, "
                    f"{UsageSnapshot.objects.count()} snapshots, "
                    f"{ChargeRecord.objects.count()} charges."
                )
            )
            shown = password
        else:
            self.stdout.write("Demo data already present: nothing created.")
            # Passwords are left as first seeded; say so if they differ.
            shown = password if staff.check_password(password) else "(as seeded)"
        self._print_logins(shown)

    def _check_database_is_fresh(self) -> None:
        """Refuse to mix the demo into real data.

        Seeding closes every past month for all accounts and takes their
        snapshots, which would bill real usage; a half-present demo (logins
        without the staff user) would only fail on a unique e-mail.
        """
        if UsageEvent.objects.exists() or ChargeRecord.objects.exists():
            raise CommandError(
                "This database already has usage or charges; seed_demo only "
                "seeds a fresh database."
            )
        taken = list(
            User.objects.filter(email__in=[login.email for login in LOGINS])
            .order_by("email")
            .values_list("email", flat=True)
        )
        if taken:
            raise CommandError(
                f"Demo logins exist without {STAFF_EMAIL}: {', '.join(taken)}. "
                "Seed a fresh database."
            )

    def _print_logins(self, password: str) -> None:
        self.stdout.write("\nDemo logins:")
        width = max(len(login.email) for login in LOGINS)
        for login in LOGINS:
            self.stdout.write(f"  {login.email:<{width}}  {password}  {login.role}")


class DemoSeed:
    """One seeding run; ``now`` is fixed so every step agrees on "today"."""

    def __init__(self, *, password: str, now: datetime) -> None:
        self.password = password
        self.now = now
        self.today = now.date()
        self.first_day = self.today - timedelta(days=HISTORY_DAYS)
        self.joined = datetime.combine(self.first_day, time.min, tzinfo=UTC)
        self.users: dict[str, User] = {}
        self.companies: dict[str, Company] = {}
        self.accounts: dict[str, Account] = {}

    def run(self) -> None:
        self._people()
        # Consents first: usage counts as consented only after they were given.
        self._consents()
        self._usage_history()
        # In date order, as invoices are numbered: the months closed before
        # Globex bought its first slot pack, then the pack, then the rest.
        self._close_periods(until=self.now - LAPSED_TERM_STARTED)
        lapsed = self._lapsed_globex_pack()
        self._early_job_postings()
        self._close_periods_and_snapshot()
        self._purchases(globex_lapsed_term=lapsed)
        # At the real clock, not self.now: the renewal above started after it.
        sweep_expirations()

    # People ---------------------------------------------------------------

    def _people(self) -> None:
        for login in LOGINS:
            if login.email == STAFF_EMAIL:
                user = User.objects.create_superuser(
                    email=login.email, password=self.password, name=login.name
                )
            else:
                user = sign_up_user(
                    email=login.email, password=self.password, name=login.name
                )
            self.users[login.email] = user
            self.accounts[login.email] = user.billing_account
        owner = self.users["owner@example.com"]
        acme = create_company(name="Acme", owner=owner)
        globex = create_company(
            name="Globex", owner=self.users["globex-owner@example.com"]
        )
        # No service invites people yet: memberships are written directly.
        Membership.objects.create(
            user=self.users["member@example.com"],
            company=acme,
            role=Membership.Role.MEMBER,
        )
        Membership.objects.create(
            user=owner, company=globex, role=Membership.Role.ADMIN
        )
        self.companies = {"Acme": acme, "Globex": globex}
        for name, company in self.companies.items():
            self.accounts[name] = company.billing_account
        # Sign-up stamps "now"; these people joined when the history starts,
        # and snapshots only cover accounts that existed on the day.
        User.objects.filter(pk__in=[u.pk for u in self.users.values()]).update(
            date_joined=self.joined
        )
        Company.objects.filter(pk__in=[c.pk for c in self.companies.values()]).update(
            created_at=self.joined
        )
        Membership.objects.filter(company__in=self.companies.values()).update(
            created_at=self.joined
        )
        Account.objects.filter(pk__in=[a.pk for a in self.accounts.values()]).update(
            created_at=self.joined
        )
        # The platform's names for them (API calls, webhook payloads):
        # user-ok, user-owner, ..., company-acme, company-globex.
        for key, account in self.accounts.items():
            kind = "user" if "@" in key else "company"
            name = key.split("@")[0].lower()
            Account.objects.filter(pk=account.pk).update(external_id=f"{kind}-{name}")
        self._billing_details()

    def _billing_details(self) -> None:
        """Two companies file their invoices: Acme in Germany, Globex in France.

        Both gave a VAT id in another EU country than the seller's, so their
        invoices are reverse-charged. member@ is a consumer in Germany: her
        theme purchases carry German VAT. Other personal accounts give no
        details (no rate is seeded for the seller's country: 0%).
        """
        for country, rate in [("DE", "19.00"), ("FR", "20.00")]:
            TaxRate.objects.create(
                country=country, rate_percent=Decimal(rate), valid_from=date(2020, 1, 1)
            )
        staff = self.users[STAFF_EMAIL]
        for key, name, address, country, vat_id in [
            (
                "Acme",
                "Acme GmbH",
                "Friedrichstraße 12\n10117 Berlin",
                "DE",
                "DE811234567",
            ),
            (
                "Globex",
                "Globex SAS",
                "12 rue de la Paix\n75002 Paris",
                "FR",
                "FR40303265045",
            ),
        ]:
            save_billing_details(
                account=self.accounts[key],
                user=staff,
                legal_name=name,
                address=address,
                country=country,
                vat_id=vat_id,
                staff=True,
            )
        member = self.accounts["member@example.com"]
        save_billing_details(
            account=member,
            user=self.users["member@example.com"],
            legal_name=member.name,
            address="Kastanienallee 7\n10435 Berlin",
            country="DE",
        )

    # Usage ----------------------------------------------------------------

    def _usage_history(self) -> None:
        """Record every account's events through the API's service, oldest first.

        Batches are in timestamp order, so a storage delta never takes the
        running level below zero; all of it lands before any period closes.
        """
        usage = {login.email: login.usage for login in LOGINS if login.usage}
        usage |= COMPANY_USAGE
        events: list[tuple[datetime, UsageEventInput]] = []
        for key, profile in usage.items():
            events += self._events_for(key, self.accounts[key], profile)
        events.sort(key=lambda pair: pair[0])
        for start in range(0, len(events), MAX_BATCH):
            batch = events[start : start + MAX_BATCH]
            # Each batch arrives when its last event happened, as the
            # platform would have sent it, so no event is late or too old.
            record_usage_events(
                events=[event for _, event in batch],
                received_at=min(batch[-1][0], self.now),
            )

    def _events_for(
        self, key: str, account: Account, usage: Usage
    ) -> list[tuple[datetime, UsageEventInput]]:
        rng = Random(f"seed_demo:{key}")
        slug = key.split("@")[0].lower()
        series = [
            ("storage", self._storage_deltas(rng, usage.storage_gb)),
            (
                "bandwidth",
                self._counter_amounts(
                    rng, usage.bandwidth_gb, usage.bandwidth_now_gb, GB
                ),
            ),
            (
                "transcoding",
                self._counter_amounts(
                    rng, usage.transcoding_min, usage.transcoding_now_min, 60
                ),
            ),
        ]
        events = []
        for meter, amounts in series:
            for n, (day, quantity) in enumerate(amounts):
                moment = self._moment_on(day, rng)
                events.append(
                    (
                        moment,
                        UsageEventInput(
                            id=f"demo:{slug}:{meter}:{day:%Y%m%d}:{n}",
                            account=account,
                            meter=meter,
                            quantity=quantity,
                            timestamp=moment,
                            properties={"source": "seed_demo"},
                        ),
                    )
                )
        return events

    def _days(self) -> Iterator[date]:
        day = self.first_day
        while day <= self.today:
            yield day
            day += timedelta(days=1)

    def _moment_on(self, day: date, rng: Random) -> datetime:
        """A time of day for an event; today's fall between midnight and now."""
        start = datetime.combine(day, time.min, tzinfo=UTC)
        span = min(self.now, start + timedelta(days=1)) - start
        return start + span * rng.uniform(0.05, 0.95)

    def _storage_deltas(
        self, rng: Random, levels_gb: tuple[float, float]
    ) -> list[tuple[date, int]]:
        """Daily uploads and deletions along a wavy path ending at the target."""
        first, last = levels_gb
        if not last:
            return []
        days = list(self._days())
        phase = rng.uniform(0, math.tau)
        deltas = []
        previous = 0
        for i, day in enumerate(days):
            t = i / (len(days) - 1)
            wave = 0.06 * last * math.sin(i / 9 + phase) * (1 - t)
            jitter = rng.uniform(-0.015, 0.015) * last * (1 - t)
            level_gb = first + (last - first) * t + wave + jitter
            level = round(last * GB) if day == self.today else round(level_gb * GB)
            level = max(level, 0)
            if level != previous:
                deltas.append((day, level - previous))
            previous = level
        return deltas

    def _counter_amounts(
        self, rng: Random, past: tuple[float, float], current: float, unit: int
    ) -> list[tuple[date, int]]:
        """Daily amounts: a drifting monthly total, busier weekends, rare spikes.

        The current month adds up to ``current`` exactly, whatever today is.
        """
        this_period = period_of(self.today)
        months: dict[Period, list[date]] = {}
        for day in self._days():
            months.setdefault(period_of(day), []).append(day)
        closed = [p for p in months if p != this_period]
        amounts: list[tuple[date, int]] = []
        for index, (period, days) in enumerate(months.items()):
            if period == this_period:
                total = current
            else:
                drift = index / max(len(closed) - 1, 1)
                total = (past[0] + (past[1] - past[0]) * drift) * rng.uniform(0.9, 1.1)
                total *= len(days) / period.days  # the first month is partial
            amounts += _spread(rng, days, round(total * unit))
        return amounts

    # Consents, packs, slots -------------------------------------------------

    def _consents(self) -> None:
        """Two recurring consents given months ago, and blocked@'s consent
        from the start of this month with a cap its usage has passed."""
        bandwidth = get_meter(code="bandwidth")
        months = _periods_between(self.first_day, self.today)
        for key, meter, cap_cents, recurring, at, user_email in [
            (
                "overage@example.com",
                bandwidth,
                500,
                True,
                months[1].starts_at + timedelta(days=2, hours=10),
                "overage@example.com",
            ),
            (
                "Globex",
                get_meter(code="transcoding"),
                2000,
                True,
                months[2].starts_at + timedelta(days=2, hours=10),
                "globex-owner@example.com",
            ),
            (
                "blocked@example.com",
                bandwidth,
                100,
                False,
                months[-1].starts_at,
                "blocked@example.com",
            ),
        ]:
            give_overage_consent(
                account=self.accounts[key],
                meter=meter,
                cap_cents=cap_cents,
                recurring=recurring,
                user=self.users[user_email],
                at=at,
            )

    def _lapsed_globex_pack(self) -> Purchase:
        """Globex's 5-slot subscription ran 40 to 10 days ago.

        purchase_pack always starts now, so the lapsed term's purchase, grant
        and paid charge are written directly, dated when they happened.
        """
        pack = Pack.objects.get(code="slots-5-sub")
        bought_at = self.now - LAPSED_TERM_STARTED
        buyer = self.users["owner@example.com"]
        account = self.accounts["Globex"]
        purchase = Purchase.objects.create(
            account=account,
            pack=pack,
            status=Purchase.Status.COMPLETED,
            idempotency_key="seed-demo:globex:slots-5-sub:first-term",
            price_cents=pack.price_cents,
            starts_at=bought_at,
            expires_at=bought_at + timedelta(days=pack.term_days),
            bought_by=buyer,
            created_at=bought_at,
        )
        for line in pack.allowances.all():
            Grant.objects.create(
                account=account,
                meter_id=line.meter_id,
                amount=line.amount,
                effective_at=purchase.starts_at,
                expires_at=purchase.expires_at,
                purchase=purchase,
                created_by=buyer,
                created_at=bought_at,
            )
        quote = quote_charge(
            account=account,
            lines=[pack_line(pack=pack, renewal=False)],
            at=bought_at,
        )
        charge = ChargeRecord.objects.create(
            account=account,
            kind=ChargeRecord.Kind.SLOT_PACK,
            amount_cents=quote.gross_cents,
            status=ChargeRecord.Status.PAID,
            idempotency_key=f"purchase:{purchase.idempotency_key}",
            description=pack.name,
            purchase=purchase,
            gateway_reference="sbx_seed_demo",
            created_by=buyer,
            created_at=bought_at,
            paid_at=bought_at,
        )
        first_day, last_day = billed_days(purchase.starts_at, purchase.expires_at)
        issue_invoice(
            charge=charge,
            quote=quote,
            period_start=first_day,
            period_end=last_day,
            at=bought_at,
        )
        return purchase

    def _early_job_postings(self) -> None:
        """Acme fills its two free slots; Globex holds two older postings."""
        postings = [
            ("Acme", "acme-backend-engineer", 21),
            ("Acme", "acme-product-designer", 8),
            ("Globex", "globex-site-reliability", 55),
            ("Globex", "globex-data-analyst", 26),
        ]
        for key, job_ref, days_ago in postings:
            slot = allocate_job_slot(account=self.accounts[key], job_ref=job_ref).slot
            # Allocation stamps "now"; these jobs were posted days ago, and
            # the job-slot history is read from allocated_at.
            JobSlot.objects.filter(pk=slot.pk).update(
                allocated_at=self.now - timedelta(days=days_ago)
            )

    def _close_periods(self, *, until: datetime) -> Period:
        """Close every month whose grace had passed by ``until``; return the
        first month left open.

        Each month is closed as the hourly scheduler would have, when its
        end plus ``BILLING_CLOSE_GRACE_HOURS`` passed, so its overage charge
        is dated then; a month still in its grace stays open to late events.
        Closing again is a no-op, so this runs once per step of the seed.
        """
        grace = timedelta(hours=settings.BILLING_CLOSE_GRACE_HOURS)
        open_from = period_of(self.today)
        for period in _periods_between(self.first_day, self.today)[:-1]:
            if period.ends_at + grace <= until:
                close_billing_period(period=period, now=period.ends_at + grace)
            elif period.start < open_from.start:
                open_from = period
        return open_from

    def _close_periods_and_snapshot(self) -> None:
        """Close every month whose grace has passed, snapshot the rest."""
        open_from = self._close_periods(until=self.now).start
        day = max(self.first_day, open_from)
        while day < self.today:
            take_usage_snapshots(day=day, now=self.now)
            day += timedelta(days=1)

    def _purchases(self, *, globex_lapsed_term: Purchase) -> None:
        """Paid, refunded, declined and renewed packs, then Globex settles up."""
        users, accounts = self.users, self.accounts
        storage = Pack.objects.get(code="storage-50gb-once")

        def buy(email: str, pack: Pack) -> ChargeRecord:
            return purchase_pack(
                account=accounts[email],
                pack=pack,
                user=users[email],
                idempotency_key=f"seed-demo:{email}:{pack.code}",
            ).charge

        buy("ok@example.com", storage)
        # A top-up that outlives the month: the overview lists it apart from
        # the monthly allowance, in the order usage burns them.
        buy("ok@example.com", Pack.objects.get(code="bandwidth-100gb-once"))
        refund_charge(
            charge=buy("warning@example.com", storage),
            staff_user=users[STAFF_EMAIL],
            reason="bought by mistake",
        )
        with override_settings(BILLING_SANDBOX_DECLINE=True):
            buy("exceeded@example.com", Pack.objects.get(code="bandwidth-100gb-once"))

        owner = users["owner@example.com"]
        globex = accounts["Globex"]
        renew_purchase(
            purchase=globex_lapsed_term,
            user=owner,
            idempotency_key="seed-demo:globex:slots-5-sub:renewal",
        )
        for job_ref in ["globex-support-lead", "globex-account-exec"]:
            allocate_job_slot(account=globex, job_ref=job_ref)
        allocate_job_slot(account=globex, job_ref="globex-summer-intern")
        release_job_slot(account=globex, job_ref="globex-summer-intern")
        pay_outstanding_balance(account=globex, user=owner)


def _periods_between(first: date, last: date) -> list[Period]:
    periods = [period_of(last)]
    while periods[-1].start > first:
        periods.append(periods[-1].previous())
    return periods[::-1]


def _spread(rng: Random, days: list[date], total: int) -> list[tuple[date, int]]:
    """Split ``total`` over ``days`` in 1-3 events a day; the sum is exact."""
    if total <= 0 or not days:
        return []
    weights = [
        rng.uniform(0.6, 1.4)
        * (1.3 if day.weekday() >= 5 else 1.0)
        * (2.5 if rng.random() < 0.04 else 1.0)
        for day in days
    ]
    scale = total / sum(weights)
    parts: list[tuple[date, int]] = []
    for day, weight in zip(days, weights, strict=True):
        share = int(weight * scale)
        pieces = rng.randint(1, 3)
        for _ in range(pieces - 1):
            piece = int(share * rng.uniform(0.2, 0.5))
            if piece > 0:
                parts.append((day, piece))
                share -= piece
        if share > 0:
            parts.append((day, share))
    shortfall = total - sum(q for _, q in parts)
    if shortfall:
        day, quantity = parts[-1] if parts else (days[-1], 0)
        parts[-1:] = [(day, quantity + shortfall)]
    return parts
