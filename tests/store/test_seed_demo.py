"""seed_demo also fills the store: every theme state, live and ended bundles."""

import io

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from accounts.models import User
from store.models import Bundle, EarningLine, Licence, Sale, Theme
from store.selectors import active_theme_stylesheet

pytestmark = pytest.mark.django_db


def counts():
    return [m.objects.count() for m in (Theme, Bundle, Sale, Licence, EarningLine)]


def test_seed_demo_creates_the_store_demo_once():
    call_command("seed_demo", stdout=io.StringIO())

    creator = User.objects.get(email="creator@example.com")
    assert set(
        Theme.objects.filter(creator=creator).values_list("status", flat=True)
    ) == {s.value for s in Theme.Status}
    now = timezone.now()
    windows = {b.state_at(now) for b in Bundle.objects.all()}
    assert {"live", "ended"} <= windows
    assert Theme.objects.exclude(creator=creator).exists()  # a second creator
    assert EarningLine.objects.filter(held_cents__gt=0).exists()  # the cap bit
    totals = EarningLine.objects.aggregate(
        g=Sum("gross_cents"), c=Sum("creator_cents"), p=Sum("platform_cents")
    )
    assert totals["g"] == totals["c"] + totals["p"]
    ok = User.objects.get(email="ok@example.com")
    assert active_theme_stylesheet(user=ok) is not None
    # owner@'s bundle licence expired: back on the default theme.
    assert (
        active_theme_stylesheet(user=User.objects.get(email="owner@example.com"))
        is None
    )
    before = counts()

    out = io.StringIO()
    call_command("seed_demo", stdout=out)

    assert counts() == before
    assert "Theme store demo already present" in out.getvalue()
