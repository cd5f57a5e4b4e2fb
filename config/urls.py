from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Billing & quota — staff"
admin.site.site_title = "Billing staff"
admin.site.index_title = "Catalogue, accounts and ledger"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("dashboard.urls")),
]
