from django.contrib import admin
from django.urls import include, path

from billing.api.views import healthz

handler500 = "config.errors.server_error"

admin.site.site_header = "Billing & quota — staff"
admin.site.site_title = "Billing staff"
admin.site.index_title = "Catalogue, accounts and ledger"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("billing.api.urls")),
    path("healthz", healthz, name="healthz"),
    path("", include("dashboard.urls")),
]
