"""The policy API, under /api/v1/policy/."""

from django.urls import path

from . import api

urlpatterns = [
    path("policy/categories/", api.CategoryListApi.as_view(), name="policy-api-categories"),
    path(
        "policy/categories/<int:pk>/",
        api.CategoryDetailApi.as_view(),
        name="policy-api-category",
    ),
    path("policy/working/", api.WorkingPolicyDetailApi.as_view(), name="policy-api-working"),
    path("policy/versions/", api.VersionListApi.as_view(), name="policy-api-versions"),
    path(
        "policy/versions/<int:number>/",
        api.VersionDetailApi.as_view(),
        name="policy-api-version",
    ),
    path(
        "policy/versions/<int:number>/guidance/",
        api.VersionGuidanceApi.as_view(),
        name="policy-api-guidance",
    ),
    path(
        "policy/versions/<int:old>/diff/<int:new>/",
        api.VersionDiffApi.as_view(),
        name="policy-api-diff",
    ),
    path("policy/publish/", api.PolicyPublishApi.as_view(), name="policy-api-publish"),
    path("policy/import/", api.PolicyImportApi.as_view(), name="policy-api-import"),
    path("policy/export/", api.PolicyExportApi.as_view(), name="policy-api-export"),
    path("policy/history/", api.PolicyChangeListApi.as_view(), name="policy-api-history"),
]
