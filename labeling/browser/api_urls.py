"""REST routes of the data browser, under /api/v1/browser/."""

from django.urls import path

from . import api

urlpatterns = [
    path(
        "browser/campaigns/<slug:slug>/pairs/bulk/",
        api.PairBulkActionApi.as_view(),
        name="browser-pairs-bulk",
    ),
    path(
        "browser/campaigns/<slug:slug>/<slug:table>/",
        api.BrowserListApi.as_view(),
        name="browser-list",
    ),
]
