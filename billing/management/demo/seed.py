"""One seeding run: the logins, then six months of history in date order.

Purchases, grants, charges, consents, usage, job postings and closes go
through the billing services, each at the instant it happened (``at``), so
the demo shows what the code really does. Only the people are partly written
by hand: sign-up dates back-dated (the accounts services stamp them now),
memberships (no invitation service yet) and the platform's ids. The command
runs the whole seed in one transaction.
"""

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from random import Random

from django.conf import settings
from django.test import override_settings

from accounts.models import Company, Membership, User
from billing.models import (
    Account,
    ChargeRecord,
    Pack,
    Purchase,
    TaxRate,
)
from billing.selectors import get_meter
from billing.services.accounts import create_company, sign_up_user
from billing.services.consents import give_overage_consent
from billing.services.documents import save_billing_details
from billing.services.expirations import sweep_expirations
from billing.services.job_slots import allocate_job_slot, release_job_slot
from billing.services.packs import purchase_pack, renew_purchase
from billing.services.payments import pay_outstanding_balance
from billing.services.periods import close_billing_period
from billing.services.refunds import refund_charge
from billing.services.snapshots import take_usage_snapshots
from billing.services.tax_rates import save_tax_rate
from billing.services.usage import MAX_BATCH, UsageEventInput, record_usage_events
from billing.units import GB, Period, period_of

from .logins import (
    COMPANY_USAGE,
    HISTORY_DAYS,
    LAPSED_TERM_STARTED,
    LOGINS,
    STAFF_EMAIL,
    Usage,
)


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
        staff = self.users[STAFF_EMAIL]
        for country, rate in [("DE", "19.00"), ("FR", "20.00")]:
            save_tax_rate(
                tax_rate=TaxRate(
                    country=country,
                    rate_percent=Decimal(rate),
                    valid_from=date(2020, 1, 1),
                ),
                actor=staff,
                reason="Demo data",
            )
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
                actor=staff,
                legal_name=name,
                address=address,
                country=country,
                vat_id=vat_id,
                staff=True,
            )
        member = self.accounts["member@example.com"]
        save_billing_details(
            account=member,
            actor=self.users["member@example.com"],
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
                actor=self.users[user_email],
                at=at,
            )

    def _lapsed_globex_pack(self) -> Purchase:
        """Globex's 5-slot subscription ran 40 to 10 days ago."""
        bought_at = self.now - LAPSED_TERM_STARTED
        return purchase_pack(
            account=self.accounts["Globex"],
            pack=Pack.objects.get(code="slots-5-sub"),
            actor=self.users["owner@example.com"],
            idempotency_key="seed-demo:globex:slots-5-sub:first-term",
            at=bought_at,
        ).purchase

    def _early_job_postings(self) -> None:
        """Acme fills its two free slots; Globex holds two older postings."""
        postings = [
            ("Acme", "acme-backend-engineer", 21),
            ("Acme", "acme-product-designer", 8),
            ("Globex", "globex-site-reliability", 55),
            ("Globex", "globex-data-analyst", 26),
        ]
        for key, job_ref, days_ago in postings:
            allocate_job_slot(
                account=self.accounts[key],
                job_ref=job_ref,
                at=self.now - timedelta(days=days_ago),
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
                close_billing_period(period=period, at=period.ends_at + grace)
            elif period.start < open_from.start:
                open_from = period
        return open_from

    def _close_periods_and_snapshot(self) -> None:
        """Close every month whose grace has passed, snapshot the rest."""
        open_from = self._close_periods(until=self.now).start
        day = max(self.first_day, open_from)
        while day < self.today:
            take_usage_snapshots(day=day, at=self.now)
            day += timedelta(days=1)

    def _purchases(self, *, globex_lapsed_term: Purchase) -> None:
        """Paid, refunded, declined and renewed packs, then Globex settles up."""
        users, accounts = self.users, self.accounts
        storage = Pack.objects.get(code="storage-50gb-once")

        def buy(email: str, pack: Pack) -> ChargeRecord:
            return purchase_pack(
                account=accounts[email],
                pack=pack,
                actor=users[email],
                idempotency_key=f"seed-demo:{email}:{pack.code}",
            ).charge

        buy("ok@example.com", storage)
        # A top-up that outlives the month: the overview lists it apart from
        # the monthly allowance, in the order usage burns them.
        buy("ok@example.com", Pack.objects.get(code="bandwidth-100gb-once"))
        refund_charge(
            charge=buy("warning@example.com", storage),
            actor=users[STAFF_EMAIL],
            customer_reason="bought by mistake",
        )
        with override_settings(BILLING_SANDBOX_DECLINE=True):
            buy("exceeded@example.com", Pack.objects.get(code="bandwidth-100gb-once"))

        owner = users["owner@example.com"]
        globex = accounts["Globex"]
        renew_purchase(
            purchase=globex_lapsed_term,
            actor=owner,
            idempotency_key="seed-demo:globex:slots-5-sub:renewal",
        )
        for job_ref in ["globex-support-lead", "globex-account-exec"]:
            allocate_job_slot(account=globex, job_ref=job_ref)
        allocate_job_slot(account=globex, job_ref="globex-summer-intern")
        release_job_slot(account=globex, job_ref="globex-summer-intern")
        pay_outstanding_balance(account=globex, actor=owner)


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
