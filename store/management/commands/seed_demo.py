"""``seed_demo`` with the theme store: billing's demo, then the store's.

billing must not import store, so the store extends billing's command
instead: "store" comes before "billing" in INSTALLED_APPS, and Django runs
the command of the first app that defines a name, so ``manage.py
seed_demo`` is this one. It calls billing's seed, then seeds the store in
its own transaction, once: a theme by creator@example.com marks it done.

Themes, sales, applied themes and payouts go through the store services;
sales in earlier months pass ``at`` so their charges, licences and earnings
lines are dated then. The bundles and one applied theme of a past month are
written directly: bundles are staff catalogue (no audit story to tell), and
applying a theme always happens now.
"""

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from accounts.models import User
from billing.management.commands.seed_demo import STAFF_EMAIL
from billing.management.commands.seed_demo import Command as BillingSeedCommand
from billing.services.accounts import sign_up_user
from billing.services.statements import issue_due_statements
from billing.units import period_of

from ...models import AppliedTheme, Bundle, Payout, Sale, Theme
from ...services.earnings import record_payout
from ...services.sales import apply_theme, purchase_bundle, purchase_theme
from ...services.themes import (
    ThemeContent,
    approve_theme,
    reject_theme,
    submit_theme,
    update_theme,
)

CREATOR = "creator@example.com"
SECOND_CREATOR = ("ines@example.com", "Ines Ink")

LIGHT = {
    "bg": "#f6f7f9",
    "surface": "#ffffff",
    "text": "#1b1f24",
    "muted": "#55606e",
    "accent": "#1d4ed8",
    "focus": "#b45309",
}
DARK_CSS = """\
:root { --border: #334155; --ok-bg: #14532d; --ok: #bbf7d0;
  --warning-bg: #713f12; --warning: #fef08a; --blocked-bg: #7f1d1d; --blocked: #fecaca;
  --exceeded-bg: #7c2d12; --exceeded: #fed7aa; }
.button.primary:hover { background: #38bdf8; color: #0f172a; }
progress.bar { background: #334155; }
progress.bar::-webkit-progress-bar { background: #334155; }
.field input, select, input[type="text"] { border-color: #64748b; }
@media (prefers-reduced-motion: no-preference) {
  .button { transition: background-color 120ms ease; }
}
"""
THEMES: list[dict[str, Any]] = [
    {
        "creator": CREATOR,
        "name": "Nightfall",
        "description": "A calm dark theme for late sessions.",
        "price_cents": 1200,
        "tokens": {
            "bg": "#0f172a",
            "surface": "#1e293b",
            "text": "#e2e8f0",
            "muted": "#a3b1c6",
            "accent": "#7dd3fc",
            "focus": "#fbbf24",
        },
        "css": DARK_CSS,
        "state": "approved",
    },
    {
        "creator": CREATOR,
        "name": "Studio Pro",
        "description": "Rounded cards, generous spacing, a deep violet accent.",
        "price_cents": 14900,
        "tokens": {**LIGHT, "accent": "#6d28d9", "focus": "#c2410c"},
        "css": ".card, .meter { border-radius: 16px; }\n"
        ".card { box-shadow: 0 2px 8px rgb(15 23 42 / 0.08); }\n",
        "state": "approved",
    },
    {
        "creator": CREATOR,
        "name": "Paper",
        "description": "Warm off-white paper with ink-blue links.",
        "price_cents": 400,
        "tokens": {**LIGHT, "bg": "#fbf8f1", "surface": "#fffdf8", "accent": "#1e3a8a"},
        "css": "body { font-family: Georgia, 'Times New Roman', serif; }\n",
        "state": "approved",
    },
    {
        "creator": CREATOR,
        "name": "Neon Rush",
        "description": "Loud and animated (its checks fail: see the report).",
        "price_cents": 800,
        "tokens": {**LIGHT, "muted": "#9ca3af", "focus": "#fde68a"},
        "css": "@import url('https://fonts.example.com/neon.css');\n"
        ".button:focus { outline: none; }\n"
        ".badge { animation: pulse 1s infinite; }\n"
        "@keyframes pulse { 50% { opacity: 0.5; } }\n",
        "state": "changes_needed",
    },
    {
        "creator": CREATOR,
        "name": "Mono",
        "description": "Greyscale and nothing else.",
        "price_cents": 300,
        "tokens": {**LIGHT, "accent": "#1b1f24"},
        "css": "a { text-decoration: underline; }\n",
        "state": "rejected",
        "reason": "Too close to the default theme to be sold; make it your own.",
    },
    {
        "creator": CREATOR,
        "name": "Solarized Calm",
        "description": "Low-glare beige with teal links.",
        "price_cents": 600,
        "tokens": {**LIGHT, "bg": "#fdf6e3", "surface": "#fffbef", "accent": "#0f5f5a"},
        "css": ".card { border-width: 2px; }\n",
        "state": "in_review",
    },
    {
        "creator": SECOND_CREATOR[0],
        "name": "Forest",
        "description": "Deep greens from a walk in the woods.",
        "price_cents": 900,
        "tokens": {**LIGHT, "bg": "#f1f7f2", "accent": "#166534", "focus": "#9a3412"},
        "css": ".card { border-color: #b7d3bd; }\n",
        "state": "approved",
    },
    {
        "creator": SECOND_CREATOR[0],
        "name": "Sunrise",
        "description": "Peach and coral, gently.",
        "price_cents": 1500,
        "tokens": {**LIGHT, "bg": "#fff7ed", "accent": "#9a3412", "focus": "#1d4ed8"},
        "css": ".brand { letter-spacing: 0.02em; }\n",
        "state": "approved",
    },
    {
        "creator": SECOND_CREATOR[0],
        "name": "Harbor",
        "description": "Free: crisp blues and greys.",
        "price_cents": 0,
        "tokens": {**LIGHT, "bg": "#f0f6fb", "accent": "#0c4a6e"},
        "css": ".tag { font-variant: small-caps; }\n",
        "state": "approved",
    },
]


class Command(BillingSeedCommand):
    help = BillingSeedCommand.help + " Then the theme store's demo data."

    def handle(self, *args: Any, password: str, **options: Any) -> None:
        super().handle(*args, password=password, **options)
        if Theme.objects.filter(creator__email=CREATOR).exists():
            self.stdout.write("Theme store demo already present: nothing created.")
            return
        # Demo sales are not news to anyone: no invoice e-mails (nor PDFs).
        now = timezone.now()
        with override_settings(BILLING_EMAIL_INVOICES=False), transaction.atomic():
            StoreSeed(password=password, now=now).run()
            # Every month before this one has its statements, as the monthly
            # run would have written them.
            issue_due_statements(at=now)
        self.stdout.write(
            self.style.SUCCESS(
                f"Theme store: {Theme.objects.count()} themes, "
                f"{Bundle.objects.count()} bundles, {Sale.objects.count()} sales."
            )
        )
        self.stdout.write(
            f"  {CREATOR} has themes in every state and earnings (Store > Earnings); "
            f"{SECOND_CREATOR[0]} ({password}) is a second creator; "
            "ok@example.com has Nightfall applied."
        )


class StoreSeed:
    def __init__(self, *, password: str, now: datetime) -> None:
        self.password = password
        self.now = now
        self.staff = User.objects.get(email=STAFF_EMAIL)
        self.themes: dict[str, Theme] = {}

    def user(self, email: str) -> User:
        return User.objects.get(email=email)

    def run(self) -> None:
        sign_up_user(
            email=SECOND_CREATOR[0], password=self.password, name=SECOND_CREATOR[1]
        )
        for spec in THEMES:
            self._theme(spec)
        # A listed theme edited since: back in review, buyers keep the approved CSS.
        paper = self.themes["Paper"]
        update_theme(
            theme=paper,
            actor=paper.creator,
            content=ThemeContent(
                name=paper.name,
                description=paper.description + " Now with a ruled-line card border.",
                price_cents=paper.price_cents,
                css=paper.css + ".card { border-style: dashed; }\n",
                tokens=paper.tokens,
            ),
        )
        self._bundles_and_sales()

    def _theme(self, spec: dict[str, Any]) -> None:
        theme = submit_theme(
            actor=self.user(spec["creator"]),
            content=ThemeContent(
                name=spec["name"],
                description=spec["description"],
                price_cents=spec["price_cents"],
                css=spec["css"],
                tokens=spec["tokens"],
            ),
        )
        if spec["state"] == "approved":
            theme = approve_theme(theme=theme, actor=self.staff)
        elif spec["state"] == "rejected":
            theme = reject_theme(theme=theme, actor=self.staff, reason=spec["reason"])
        assert theme.status == spec["state"], (theme.name, theme.status)
        self.themes[theme.name] = theme

    def _bundles_and_sales(self) -> None:
        t, now = self.themes, self.now
        this_month = period_of(now).starts_at
        last_month = period_of(this_month - timedelta(days=1)).starts_at
        two_ago = period_of(last_month - timedelta(days=1)).starts_at

        live = Bundle.objects.create(
            name="Spring collection",
            description="Three themes from two creators, with 90 days of access.",
            price_cents=2500,
            available_from=now - timedelta(days=3),
            available_until=now + timedelta(days=25),
            licence_days=90,
        )
        live.themes.set([t["Nightfall"], t["Forest"], t["Sunrise"]])
        ended = Bundle.objects.create(
            name="Winter sale",
            description="Ended: 30 days of access to two light themes.",
            price_cents=900,
            available_from=now - timedelta(days=120),
            available_until=now - timedelta(days=10),
            licence_days=30,
        )
        ended.themes.set([t["Forest"], t["Harbor"]])

        def buy(email: str, theme: str, at: datetime) -> Sale:
            return purchase_theme(
                actor=self.user(email),
                theme=t[theme],
                idempotency_key=f"seed-demo:store:{email}:{theme}",
                at=at,
            ).sale

        # Two months ago Studio Pro sold 7 copies: $1,043 gross crosses the
        # $1,000 tier ceiling, and the creator's share passes the $500 cap.
        buyers = [
            "ok@example.com",
            "warning@example.com",
            "exceeded@example.com",
            "overage@example.com",
            "blocked@example.com",
            "owner@example.com",
            "member@example.com",
        ]
        for day, email in enumerate(buyers, start=3):
            buy(email, "Studio Pro", two_ago + timedelta(days=day, hours=10))
        buy("member@example.com", "Nightfall", last_month + timedelta(days=4, hours=9))
        buy("globex-owner@example.com", "Forest", last_month + timedelta(days=12))
        buy("ok@example.com", "Nightfall", now - timedelta(hours=5))
        buy("warning@example.com", "Harbor", now - timedelta(hours=4))
        purchase_bundle(
            actor=self.user("warning@example.com"),
            bundle=live,
            idempotency_key="seed-demo:store:warning:spring",
            at=now - timedelta(hours=3),
        )
        # The ended bundle's 30-day licence has run out: owner@ applied Forest
        # back then (written directly: apply_theme acts now) and sees the
        # default theme today.
        owner = self.user("owner@example.com")
        purchase_bundle(
            actor=owner,
            bundle=ended,
            idempotency_key="seed-demo:store:owner:winter",
            at=now - timedelta(days=100),
        )
        AppliedTheme.objects.create(
            user=owner, theme=t["Forest"], applied_at=now - timedelta(days=99)
        )
        # No refund here: billing's demo holds the one refund its test expects;
        # staff can refund a sale in admin (Sales > "Refund").
        apply_theme(actor=self.user("ok@example.com"), theme=t["Nightfall"])
        apply_theme(actor=self.user("warning@example.com"), theme=t["Forest"])
        record_payout(
            payout=Payout(
                creator=self.user(CREATOR),
                amount_cents=50_000,
                reference="demo transfer",
                paid_at=last_month + timedelta(days=5),
            ),
            actor=self.staff,
            reason="Demo data",
        )
