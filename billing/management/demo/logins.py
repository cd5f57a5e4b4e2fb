"""The demo logins, what each shows, and how each account used the platform."""

from dataclasses import dataclass
from datetime import timedelta

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
