"""REST routes of the quality area, under /api/v1/quality/."""

from django.urls import path

from . import api

urlpatterns = [
    path(
        "quality/campaigns/<slug:slug>/agreement/",
        api.AgreementView.as_view(),
        name="quality-agreement",
    ),
    path(
        "quality/campaigns/<slug:slug>/gold/",
        api.GoldAccuracyView.as_view(),
        name="quality-gold-accuracy",
    ),
    path("quality/campaigns/<slug:slug>/bias/", api.BiasView.as_view(), name="quality-bias"),
    path(
        "quality/campaigns/<slug:slug>/dashboards/<slug:table>/",
        api.DashboardTableView.as_view(),
        name="quality-dashboard-table",
    ),
    path("quality/review-queue/", api.ReviewQueueView.as_view(), name="quality-review-queue"),
    path(
        "quality/pairs/<int:pair_id>/review/", api.PairReviewView.as_view(), name="quality-review"
    ),
    path("quality/pairs/<int:pair_id>/gold/", api.PairGoldView.as_view(), name="quality-gold"),
    path(
        "quality/prompts/<int:prompt_id>/correction/",
        api.PromptCorrectionView.as_view(),
        name="quality-prompt-correction",
    ),
]
