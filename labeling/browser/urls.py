"""Pages of the data browser."""

from django.urls import path

from . import views

urlpatterns = [
    path("browser/", views.browser_home_view, name="browser_home"),
    path("browser/pairs/<int:pair_id>/", views.browser_pair_view, name="browser_pair"),
    path("browser/<slug:slug>/", views.browser_view, name="browser"),
    path("browser/<slug:slug>/bulk/", views.browser_bulk_view, name="browser_bulk"),
]
