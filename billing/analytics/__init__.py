"""Selectors for the staff analytics pages: revenue and packs (``revenue``),
usage patterns (``usage``) and outstanding balances (``balances``).

Reads only, each metric in one place, all computed by aggregate queries
(and the daily usage rollups) so the pages stay fast on millions of rows.
Usage patterns add today so far from the live counters and gauge levels,
through the same ``quota_statuses`` as the dashboards and the API.

Revenue counts charges that were billed: paid or pending. Failed and void
charges are not revenue; a refund is negative revenue on its own date.

Every report takes the ``viewer`` and refuses (``MissingPermission``) staff
without ``billing.view_analytics``: the rule lives here, not only on the
pages, so any other caller meets it too. There is no system reader.
"""

from .balances import (  # noqa: F401
    AGING_BUCKETS,
    BalanceRow,
    BalancesReport,
    outstanding_balances,
)
from .revenue import (  # noqa: F401
    REVENUE_KINDS,
    REVENUE_STATUSES,
    DateRange,
    PackStats,
    RevenueReport,
    RevenueRow,
    pack_popularity,
    recurring_revenue_cents,
    revenue_report,
)
from .usage import (  # noqa: F401
    USAGE_BANDS,
    LiveDay,
    MeterUsage,
    TopConsumer,
    UsageReport,
    usage_patterns,
)
