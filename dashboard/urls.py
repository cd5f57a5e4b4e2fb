from django.contrib.auth import views as auth_views
from django.urls import path

from .store_urls import urlpatterns as store_urlpatterns
from .views import company, documents, staff
from .views.user import account as user_account
from .views.user import charges, overage, packs

app_name = "dashboard"

account = "accounts/<int:account_id>/"

urlpatterns = [
    path("", user_account.user_home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="registration/login.html"),
        name="login",
    ),
    path("logout/", user_account.user_logout, name="logout"),
    path("accounts/switch/", user_account.user_switch_account, name="user-switch"),
    path(account, user_account.user_overview, name="user-overview"),
    path(
        f"{account}alerts/<int:alert_id>/dismiss/",
        user_account.user_dismiss_alert,
        name="user-dismiss-alert",
    ),
    path(f"{account}usage/", user_account.user_usage, name="user-usage"),
    path(f"{account}packs/", packs.user_packs, name="user-packs"),
    path(f"{account}packs/<slug:code>/buy/", packs.user_pack_confirm, name="user-buy"),
    path(f"{account}purchases/", packs.user_purchases, name="user-purchases"),
    path(
        f"{account}purchases/<int:purchase_id>/",
        packs.user_receipt,
        name="user-receipt",
    ),
    path(
        f"{account}purchases/<int:purchase_id>/renew/",
        packs.user_renew,
        name="user-renew",
    ),
    path(f"{account}overage/", overage.user_overage, name="user-overage"),
    path(
        f"{account}overage/<slug:meter_code>/revoke/",
        overage.user_revoke_consent,
        name="user-revoke-consent",
    ),
    path(f"{account}billing/", charges.user_billing, name="user-billing"),
    path(f"{account}billing/pay/", charges.user_pay, name="user-pay"),
    path(
        f"{account}billing/charges/<int:charge_id>/",
        charges.user_charge,
        name="user-charge",
    ),
    path(f"{account}job-slots/", company.company_job_slots, name="company-job-slots"),
    path(f"{account}documents/", documents.user_documents, name="user-documents"),
    path(
        f"{account}documents/invoices/<str:number>/",
        documents.user_invoice,
        name="user-invoice",
    ),
    path(
        f"{account}documents/invoices/<str:number>/pdf/",
        documents.user_invoice_pdf,
        name="user-invoice-pdf",
    ),
    path(
        f"{account}documents/credit-notes/<str:number>/",
        documents.user_credit_note,
        name="user-credit-note",
    ),
    path(
        f"{account}documents/credit-notes/<str:number>/pdf/",
        documents.user_credit_note_pdf,
        name="user-credit-note-pdf",
    ),
    path(
        f"{account}documents/statements/<str:month>/",
        documents.user_statement,
        name="user-statement",
    ),
    path(
        f"{account}documents/statements/<str:month>/pdf/",
        documents.user_statement_pdf,
        name="user-statement-pdf",
    ),
    path(
        f"{account}billing/details/",
        documents.user_billing_details,
        name="user-billing-details",
    ),
    path("staff/", staff.staff_home, name="staff-home"),
    path("staff/revenue/", staff.staff_revenue, name="staff-revenue"),
    path("staff/packs/", staff.staff_packs, name="staff-packs"),
    path("staff/usage/", staff.staff_usage, name="staff-usage"),
    path("staff/balances/", staff.staff_balances, name="staff-balances"),
]

urlpatterns += store_urlpatterns
