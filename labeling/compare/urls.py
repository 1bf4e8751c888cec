"""The Compare page of a campaign and its CSV tables (under the ``labeling`` namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("campaigns/<slug:slug>/compare/", views.campaign_compare, name="campaign_compare"),
    path(
        "campaigns/<slug:slug>/compare/<slug:table>.csv",
        views.campaign_compare_csv,
        name="campaign_compare_csv",
    ),
]
