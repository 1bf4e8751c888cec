"""REST routes of the quality area, under /api/v1/quality/."""

from django.urls import path

from . import api

urlpatterns = [
    path(
        "quality/campaigns/<slug:slug>/agreement/",
        api.AgreementReportApi.as_view(),
        name="quality-agreement",
    ),
    path(
        "quality/campaigns/<slug:slug>/gold/",
        api.GoldAccuracyReportApi.as_view(),
        name="quality-gold-accuracy",
    ),
    path("quality/campaigns/<slug:slug>/bias/", api.BiasReportApi.as_view(), name="quality-bias"),
    path(
        "quality/campaigns/<slug:slug>/dashboards/<slug:table>/",
        api.DashboardTableDetailApi.as_view(),
        name="quality-dashboard-table",
    ),
    path(
        "quality/campaigns/<slug:slug>/consensus/",
        api.ConsensusRunListApi.as_view(),
        name="quality-consensus-runs",
    ),
    path(
        "quality/campaigns/<slug:slug>/consensus/latest/",
        api.ConsensusLatestApi.as_view(),
        name="quality-consensus-latest",
    ),
    path(
        "quality/consensus-runs/<int:run_id>/",
        api.ConsensusRunDetailApi.as_view(),
        name="quality-consensus-run",
    ),
    path("quality/review-queue/", api.ReviewQueueListApi.as_view(), name="quality-review-queue"),
    path(
        "quality/pairs/<int:pair_id>/review/", api.ReviewDetailApi.as_view(), name="quality-review"
    ),
    path("quality/pairs/<int:pair_id>/gold/", api.PairGoldDetailApi.as_view(), name="quality-gold"),
    path(
        "quality/prompts/<int:prompt_id>/correction/",
        api.PromptCorrectApi.as_view(),
        name="quality-prompt-correction",
    ),
]
