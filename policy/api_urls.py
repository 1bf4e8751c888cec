"""The policy API, under /api/v1/policy/."""

from django.urls import path

from . import api

urlpatterns = [
    path("policy/categories/", api.CategoryListView.as_view(), name="policy-api-categories"),
    path(
        "policy/categories/<int:pk>/",
        api.CategoryDetailView.as_view(),
        name="policy-api-category",
    ),
    path("policy/working/", api.WorkingPolicyView.as_view(), name="policy-api-working"),
    path("policy/versions/", api.VersionListView.as_view(), name="policy-api-versions"),
    path(
        "policy/versions/<int:number>/",
        api.VersionDetailView.as_view(),
        name="policy-api-version",
    ),
    path(
        "policy/versions/<int:number>/guidance/",
        api.VersionGuidanceView.as_view(),
        name="policy-api-guidance",
    ),
    path(
        "policy/versions/<int:old>/diff/<int:new>/",
        api.VersionDiffView.as_view(),
        name="policy-api-diff",
    ),
    path("policy/publish/", api.PublishView.as_view(), name="policy-api-publish"),
    path("policy/import/", api.ImportView.as_view(), name="policy-api-import"),
    path("policy/export/", api.ExportView.as_view(), name="policy-api-export"),
    path("policy/history/", api.HistoryView.as_view(), name="policy-api-history"),
]
