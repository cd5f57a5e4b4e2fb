"""Company-only pages: job slots (allocations come from the platform's API)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render

from billing.models import Pack
from billing.selectors import list_catalogue
from billing.selectors.pages import job_slot_status

from ..http import AuthedHttpRequest, load_account
from ..presenters import FULL, SLOTS_FULL_ADVICE


@login_required
def company_job_slots(request: AuthedHttpRequest, account_id: int) -> HttpResponse:
    page = load_account(request, account_id)
    if not page.is_company:
        raise Http404("Job slots belong to company accounts.")
    status = job_slot_status(account=page.account)
    context = {
        "page": page,
        "tab": "job-slots",
        "slots": status.slots,
        "full": status.full,
        "full_label": FULL,
        "full_advice": SLOTS_FULL_ADVICE,
        "packs": list(list_catalogue(category=Pack.Category.SLOTS)),
    }
    return render(request, "dashboard/company/job_slots.html", context)
