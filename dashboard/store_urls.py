"""Theme store pages; included by dashboard/urls.py under the dashboard namespace."""

from django.urls import path

from .views import store

urlpatterns = [
    path("store/", store.store_themes, name="store-themes"),
    path("store/themes/<int:theme_id>/", store.store_theme, name="store-theme"),
    path(
        "store/themes/<int:theme_id>/preview/",
        store.store_theme_preview,
        name="store-theme-preview",
    ),
    path(
        "store/themes/<int:theme_id>/theme.css",
        store.store_theme_css,
        name="store-theme-css",
    ),
    path(
        "store/themes/<int:theme_id>/images/<int:image_id>",
        store.store_theme_image,
        name="store-theme-image",
    ),
    path(
        "store/themes/<int:theme_id>/confirm/",
        store.store_theme_confirm,
        name="store-theme-confirm",
    ),
    # The old one-click buy URLs only lead to the confirmation pages.
    path(
        "store/themes/<int:theme_id>/buy/",
        store.store_theme_buy,
        name="store-theme-buy",
    ),
    path("store/bundles/<int:bundle_id>/", store.store_bundle, name="store-bundle"),
    path(
        "store/bundles/<int:bundle_id>/confirm/",
        store.store_bundle_confirm,
        name="store-bundle-confirm",
    ),
    path(
        "store/bundles/<int:bundle_id>/buy/",
        store.store_bundle_buy,
        name="store-bundle-buy",
    ),
    path("store/receipts/<int:sale_id>/", store.store_receipt, name="store-receipt"),
    path("store/mine/", store.store_library, name="store-library"),
    path("store/submit/", store.store_submit, name="store-submit"),
    path("store/creator/", store.store_creator, name="store-creator"),
    path(
        "store/creator/themes/<int:theme_id>/",
        store.store_creator_theme,
        name="store-creator-theme",
    ),
    path("store/earnings/", store.store_earnings, name="store-earnings"),
    path("store/payouts/", store.store_payouts, name="store-payouts"),
]
