"""Pages of model endpoints and generation runs (under the ``labeling`` namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("campaigns/<slug:slug>/generate/", views.run_create, name="run_create"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("runs/<int:pk>/cancel/", views.run_action, {"action": "cancel"}, name="run_cancel"),
    path("runs/<int:pk>/resume/", views.run_action, {"action": "resume"}, name="run_resume"),
    path("runs/<int:pk>/recover/", views.run_action, {"action": "recover"}, name="run_recover"),
    path("endpoints/", views.endpoint_list, name="endpoint_list"),
    path("endpoints/new/", views.endpoint_form, name="endpoint_create"),
    path("endpoints/<int:pk>/edit/", views.endpoint_form, name="endpoint_edit"),
    path("endpoints/<int:pk>/test/", views.endpoint_test, name="endpoint_test"),
]
