"""The API with every operation dispatched by ninja, authorize included:
the reference ``test_authorize_lean`` compares the lean view with."""

from django.urls import include, path

from billing.api.urls import ninja_urlpatterns

urlpatterns = [path("api/v1/", include(ninja_urlpatterns))]
