"""The import pages of a campaign (under the ``labeling`` namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path(
        "campaigns/<slug:slug>/import/prompts/",
        views.campaign_import,
        {"kind": "prompts"},
        name="campaign_import_prompts",
    ),
    path(
        "campaigns/<slug:slug>/import/candidates/",
        views.campaign_import,
        {"kind": "candidates"},
        name="campaign_import_candidates",
    ),
    path(
        "campaigns/<slug:slug>/import/xstest-mapping/",
        views.xstest_mapping_table,
        name="campaign_import_xstest_mapping",
    ),
    path(
        "campaigns/<slug:slug>/import/jobs/<uuid:job_id>/",
        views.import_job_detail,
        name="import_job_detail",
    ),
    path(
        "campaigns/<slug:slug>/import/problems/<slug:token>.csv",
        views.campaign_import_problems,
        name="campaign_import_problems",
    ),
]
