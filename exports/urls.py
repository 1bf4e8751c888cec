"""Export pages (under /exports/)."""

from django.urls import path

from . import views

app_name = "exports"
urlpatterns = [
    path("", views.export_list, name="list"),
    path("new/", views.export_new, name="new"),
    path("preview/", views.export_preview, name="preview"),
    path("<uuid:export_id>/", views.export_detail, name="detail"),
    path("<uuid:export_id>/download/", views.export_download, name="download"),
    path("<uuid:export_id>/learnability/", views.export_learnability, name="learnability"),
    path("learnability/", views.estimate_new, name="estimate_new"),
    path("learnability/<uuid:estimate_id>/", views.estimate_detail, name="estimate"),
]
