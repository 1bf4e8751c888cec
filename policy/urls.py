"""Pages of the policy app, under /policy/."""

from django.urls import path

from . import views

app_name = "policy"
urlpatterns = [
    path("", views.taxonomy, name="taxonomy"),
    path("categories/add/", views.category_add, name="category_add"),
    path("categories/<int:pk>/", views.category_detail, name="category_detail"),
    path("categories/<int:pk>/rename/", views.category_rename, name="category_rename"),
    path("categories/<int:pk>/move/", views.category_move, name="category_move"),
    path("categories/<int:pk>/reorder/", views.category_reorder, name="category_reorder"),
    path("categories/<int:pk>/active/", views.category_active, name="category_active"),
    path("categories/<int:pk>/delete/", views.category_delete, name="category_delete"),
    path("mapping/", views.mapping_edit, name="mapping"),
    path("rubric/edit/", views.rubric_edit, name="rubric_edit"),
    path("publish/", views.publish, name="publish"),
    path("changes/", views.unpublished, name="unpublished"),
    path("import/", views.import_view, name="import"),
    path("export/", views.export_view, name="export"),
    path("rubric/", views.rubric_current, name="rubric_current"),
    path("versions/", views.version_list, name="version_list"),
    path("versions/<int:number>/", views.version_detail, name="version_detail"),
    path("versions/<int:number>/rubric/", views.rubric_version, name="rubric_version"),
    path("versions/<int:number>/guidance/", views.guidance, name="guidance"),
    path("versions/<int:old>/diff/<int:new>/", views.diff, name="diff"),
    path("diff/", views.diff_pick, name="diff_pick"),
]
