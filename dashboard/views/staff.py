"""Staff analytics: revenue, popular packs, usage patterns, balances.

Numbers come from ``billing.analytics``; these views parse the date range,
call it as the signed-in user, and render a page, an htmx partial or a CSV
file. The reports themselves refuse staff without ``billing.view_analytics``;
the decorator checks the same permission first, so such staff get a 403 page
naming it, and anyone who is not staff a 404 (the area is not advertised).
"""

from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.vary import vary_on_headers

from billing.analytics import (
    AGING_BUCKETS,
    REVENUE_KINDS,
    DateRange,
    UsageReport,
    outstanding_balances,
    pack_popularity,
    revenue_report,
    usage_patterns,
)
from billing.models import ChargeRecord
from billing.permissions import VIEW_ANALYTICS

from ..csv_export import write_rows
from ..forms import DateRangeForm
from ..http import (
    AuthedHttpRequest,
    HtmxHttpRequest,
    render_page_or_partial,
    staff_power_required,
    wants_partial,
)
from ..presenters import (
    BAND_FIELDS,
    chart_spec,
    money,
    staff_usage_card,
    staff_usage_coverage,
)

KIND_LABELS = dict(ChargeRecord.Kind.choices)


def _range(request: HtmxHttpRequest) -> tuple[DateRangeForm, DateRange, str]:
    """The chosen range (last 30 days by default or when the input is invalid)."""
    end = timezone.now().date()
    start = end - timedelta(days=29)
    default = {"start": start, "end": end, "grain": "day"}
    form = DateRangeForm(
        request.GET if "start" in request.GET else None, initial=default
    )
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        return form, DateRange(data["start"], data["end"]), data["grain"] or "day"
    return form, DateRange(start, end), "day"


def _render(
    request: HtmxHttpRequest, template: str, context: dict[str, Any]
) -> HttpResponse:
    form = context["form"]
    # htmx swaps only 2xx answers: an invalid range is shown inside the
    # report it replaces; a full page still says 422.
    status = 422 if form.errors and not wants_partial(request) else 200
    if form.is_bound and form.is_valid():  # the tabs keep the chosen range
        context["query"] = "?" + urlencode(
            {k: request.GET[k] for k in ("start", "end", "grain") if k in request.GET}
        )
    return render_page_or_partial(request, template, "report", context, status=status)


def _csv(
    name: str, period: DateRange, header: list[str], rows: Iterable
) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"{name}-{period.start}-{period.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    write_rows(response, header, rows)
    return response


@staff_power_required(VIEW_ANALYTICS)
def staff_home(request: AuthedHttpRequest) -> HttpResponse:
    return redirect("dashboard:staff-revenue")


@staff_power_required(VIEW_ANALYTICS)
@vary_on_headers("HX-Request")
def staff_revenue(request: AuthedHttpRequest) -> HttpResponse:
    form, period, grain = _range(request)
    report = revenue_report(viewer=request.user, period=period, grain=grain)
    if request.GET.get("format") == "csv":
        return _csv(
            "revenue",
            period,
            ["bucket", *[f"{k}_cents" for k in REVENUE_KINDS], "total_cents"],
            (
                [row.bucket.isoformat(), *row.by_kind.values(), row.total]
                for row in report.rows
            ),
        )
    label_format = "%Y-%m" if grain == "month" else "%Y-%m-%d"
    chart = chart_spec(
        "bar",
        [row.bucket.strftime(label_format) for row in report.rows],
        [
            {
                "label": KIND_LABELS[kind],
                "data": [row.by_kind[kind] / 100 for row in report.rows],
                "stack": "revenue",
            }
            for kind in REVENUE_KINDS
            if report.totals_by_kind[kind] or kind == ChargeRecord.Kind.REFUND
        ],
        stacked=True,
        unit=settings.BILLING_CURRENCY,
    )
    context = {
        "tab": "revenue",
        "form": form,
        "period": period,
        "report": report,
        "kinds": [(k, KIND_LABELS[k]) for k in REVENUE_KINDS],
        "chart": chart,
    }
    return _render(request, "dashboard/staff/revenue.html", context)


@staff_power_required(VIEW_ANALYTICS)
@vary_on_headers("HX-Request")
def staff_packs(request: AuthedHttpRequest) -> HttpResponse:
    form, period, _ = _range(request)
    stats = pack_popularity(viewer=request.user, period=period)
    if request.GET.get("format") == "csv":
        return _csv(
            "packs",
            period,
            ["pack", "kind", "units", "renewals", "lapses"]
            + ["revenue_cents", "share_pct"],
            [
                [s.pack.code, s.pack.kind, s.units, s.renewals, s.lapses]
                + [s.revenue_cents, s.share]
                for s in stats
            ],
        )
    top = stats[:12]
    chart = chart_spec(
        "bar",
        [s.pack.name for s in top],
        [{"label": "Revenue", "data": [s.revenue_cents / 100 for s in top]}],
        horizontal=True,
        unit=settings.BILLING_CURRENCY,
    )
    context = {
        "tab": "packs",
        "form": form,
        "period": period,
        "stats": stats,
        "chart": chart,
    }
    return _render(request, "dashboard/staff/packs.html", context)


def _usage_csv(report: UsageReport, table: str) -> HttpResponse:
    """One of the usage tables; ``source`` tells snapshot days from today so
    far (live), whose unbilled excess is left empty until its snapshot."""
    meters, today = report.meters, report.today

    def source(day) -> str:
        return "live" if day == today else "snapshot"

    if table == "bands":
        header = ["meter", "day", *BAND_FIELDS, "unbilled_excess", "source"]
        rows = [
            [m.meter.code, r.day.isoformat()]
            + [getattr(r, band) for band in BAND_FIELDS]
            + ["" if r.unbilled_excess is None else r.unbilled_excess, source(r.day)]
            for m in meters
            for r in m.rows
        ]
    elif table == "top":
        header = ["meter", "rank", "account_id", "account", "used", "limit", "state"]
        header += ["day", "source"]
        rows = [
            [m.meter.code, rank, t.account.pk, t.account.name]
            + [t.used, t.limit, t.state, m.latest.day.isoformat(), source(m.latest.day)]
            for m in meters
            if m.latest is not None
            for rank, t in enumerate(m.top, 1)
        ]
    else:
        table = "daily"
        header = ["meter", "unit", "day", "accounts", "total_used", "source"]
        rows = [
            [m.meter.code, m.meter.unit, r.day.isoformat(), r.accounts, r.total_used]
            + [source(r.day)]
            for m in meters
            for r in m.rows
        ]
    return _csv(f"usage-{table}", report.period, header, rows)


@staff_power_required(VIEW_ANALYTICS)
@vary_on_headers("HX-Request")
def staff_usage(request: AuthedHttpRequest) -> HttpResponse:
    form, period, _ = _range(request)
    # Today's figures are read live at this instant; earlier days are the
    # nightly snapshots'.
    report = usage_patterns(viewer=request.user, period=period, at=timezone.now())
    if request.GET.get("format") == "csv":
        return _usage_csv(report, request.GET.get("table", "daily"))
    context = {
        "tab": "usage",
        "form": form,
        "period": period,
        "report": report,
        "coverage": staff_usage_coverage(report),
        "cards": [staff_usage_card(usage) for usage in report.meters],
    }
    return _render(request, "dashboard/staff/usage.html", context)


@staff_power_required(VIEW_ANALYTICS)
@vary_on_headers("HX-Request")
def staff_balances(request: AuthedHttpRequest) -> HttpResponse:
    form, period, _ = _range(request)
    # Balances are as of the range's end (today by default).
    at = min(period.ends_at, timezone.now())
    csv_wanted = request.GET.get("format") == "csv"
    report = outstanding_balances(
        viewer=request.user, at=at, limit=None if csv_wanted else 200
    )
    if csv_wanted:
        return _csv(
            "balances",
            period,
            ["account_id", "account", "oldest_pending", "total_cents"]
            + [f"days_{b}_cents" for b in AGING_BUCKETS],
            [
                [r.account_id, r.account_name, r.oldest.isoformat(), r.total]
                + list(r.buckets.values())
                for r in report.rows
            ],
        )
    chart = chart_spec(
        "bar",
        [f"{b} days" for b in AGING_BUCKETS],
        [{"label": "Outstanding", "data": [v / 100 for v in report.buckets.values()]}],
        unit=settings.BILLING_CURRENCY,
    )
    context = {
        "tab": "balances",
        "form": form,
        "period": period,
        "at": at,
        "report": report,
        "bucket_names": AGING_BUCKETS,
        "chart": chart,
        "total": money(report.total),
    }
    return _render(request, "dashboard/staff/balances.html", context)
