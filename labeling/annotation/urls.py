"""Pages of the annotation workflow (under the ``labeling`` namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("work/", views.my_work, name="my_work"),
    path("work/ping/", views.ping, name="work_ping"),
    path("work/judgments/<int:judgment_id>/edit/", views.judgment_edit, name="judgment_edit"),
    path("campaigns/<slug:slug>/annotate/", views.annotate, name="annotate"),
    path("campaigns/<slug:slug>/annotate/progress/", views.progress, name="annotate_progress"),
    path(
        "campaigns/<slug:slug>/annotate/<int:assignment_id>/submit/",
        views.submit,
        name="annotate_submit",
    ),
    path(
        "campaigns/<slug:slug>/annotate/<int:assignment_id>/skip/",
        views.skip,
        name="annotate_skip",
    ),
    path(
        "campaigns/<slug:slug>/annotate/<int:assignment_id>/draft/",
        views.draft,
        name="annotate_draft",
    ),
]
