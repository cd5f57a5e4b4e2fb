"""Factories for the store. Themes are valid and pass every check by default."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from store.checks import run_checks
from store.models import Bundle, Payout, RevenuePolicy, RevenueTier, Theme
from store.services.themes import build_stylesheet

from .accounts import UserFactory

GOOD_TOKENS = {
    "bg": "#f6f7f9",
    "surface": "#ffffff",
    "text": "#1b1f24",
    "muted": "#55606e",
    "accent": "#1d4ed8",
    "focus": "#b45309",
}
GOOD_CSS = """\
.card { border-radius: 14px; box-shadow: 0 1px 2px rgb(0 0 0 / 0.08); }
a:focus-visible { outline: none; box-shadow: 0 0 0 3px var(--focus); }
@media (prefers-reduced-motion: no-preference) {
  .button { transition: background-color 150ms ease; }
}
"""


class ThemeFactory(DjangoModelFactory):
    """An approved, listed theme unless a trait says otherwise."""

    class Meta:
        model = Theme

    class Params:
        in_review = factory.Trait(status=Theme.Status.IN_REVIEW, published_at=None)
        changes_needed = factory.Trait(
            status=Theme.Status.CHANGES_NEEDED, published_at=None
        )
        rejected = factory.Trait(
            status=Theme.Status.REJECTED,
            published_at=None,
            review_note="The preview images are blurry.",
        )
        free = factory.Trait(price_cents=0)

    creator = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Theme {n}")
    price_cents = 1500
    css = GOOD_CSS
    tokens = factory.LazyFunction(lambda: dict(GOOD_TOKENS))
    status = Theme.Status.APPROVED
    check_report = factory.LazyAttribute(
        lambda o: [r.as_dict() for r in run_checks(css=o.css, tokens=o.tokens)]
    )
    checked_at = factory.LazyFunction(timezone.now)
    published_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def publish(self, create, extracted, **kwargs):
        if create and self.published_at and not self.published_stylesheet:
            self.published_stylesheet = build_stylesheet(theme=self)
            Theme.objects.filter(pk=self.pk).update(
                published_stylesheet=self.published_stylesheet
            )

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        """The publish hook saves what it changes itself."""


class BundleFactory(DjangoModelFactory):
    """A live bundle (on sale since yesterday, for a week) of the given themes."""

    class Meta:
        model = Bundle
        skip_postgeneration_save = True

    class Params:
        upcoming = factory.Trait(
            available_from=factory.LazyFunction(
                lambda: timezone.now() + timedelta(days=1)
            ),
            available_until=factory.LazyFunction(
                lambda: timezone.now() + timedelta(days=8)
            ),
        )
        ended = factory.Trait(
            available_from=factory.LazyFunction(
                lambda: timezone.now() - timedelta(days=8)
            ),
            available_until=factory.LazyFunction(
                lambda: timezone.now() - timedelta(days=1)
            ),
        )

    name = factory.Sequence(lambda n: f"Bundle {n}")
    price_cents = 2000
    available_from = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    available_until = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))

    @factory.post_generation
    def themes(self, create, extracted, **kwargs):
        if create and extracted:
            self.themes.set(extracted)


class PayoutFactory(DjangoModelFactory):
    class Meta:
        model = Payout

    creator = factory.SubFactory(UserFactory)
    amount_cents = 1000


class RevenuePolicyFactory(DjangoModelFactory):
    """A policy in effect from now: ``tiers=[(up_to_cents, percent), ...]``.

    Without tiers it pays 70% of everything; no monthly cap unless given.
    """

    class Meta:
        model = RevenuePolicy
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Policy {n}")
    effective_from = factory.LazyFunction(timezone.now)
    monthly_cap_cents = None

    @factory.post_generation
    def tiers(self, create, extracted, **kwargs):
        if not create:
            return
        RevenueTier.objects.bulk_create(
            RevenueTier(policy=self, up_to_cents=up_to, creator_percent=Decimal(pct))
            for up_to, pct in extracted or [(None, 70)]
        )
