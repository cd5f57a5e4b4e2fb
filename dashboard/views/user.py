from dataclasses import dataclass
from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from billing.models import Account
from billing.selectors import QuotaStatus, list_accounts_for_user, quota_statuses
from billing.units import format_quantity, period_of


@dataclass(frozen=True, slots=True)
class QuotaCard:
    """Display strings for one meter; every number comes from the selector."""

    name: str
    used: str
    limit: str
    percent: float
    bar: float
    state: str

    @classmethod
    def of(cls, status: QuotaStatus) -> "QuotaCard":
        unit = status.meter.unit
        return cls(
            name=status.meter.name,
            used=format_quantity(status.used, unit),
            limit=format_quantity(status.limit, unit),
            percent=status.percent,
            bar=min(status.percent, 100.0),
            state=status.state,
        )


def user_home(request: HttpRequest) -> HttpResponse:
    context: dict[str, object] = {}
    if request.user.is_authenticated:
        now = timezone.now()
        accounts: list[Account] = list(
            list_accounts_for_user(user=request.user).select_related("plan")
        )
        statuses = quota_statuses(accounts=accounts, at=now)
        period = period_of(now)
        context = {
            "accounts": [
                {"account": a, "quotas": [QuotaCard.of(s) for s in statuses[a.pk]]}
                for a in accounts
            ],
            "period_start": period.start,
            "period_end": period.end - timedelta(days=1),
        }
    return render(request, "dashboard/home.html", context)
