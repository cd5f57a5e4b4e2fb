from .earnings import EarningLine, Payout, RevenuePolicy, RevenueTier
from .sales import AppliedTheme, Bundle, Licence, Sale
from .themes import Theme, ThemeImage

__all__ = [
    "AppliedTheme",
    "Bundle",
    "EarningLine",
    "Licence",
    "Payout",
    "RevenuePolicy",
    "RevenueTier",
    "Sale",
    "Theme",
    "ThemeImage",
]
