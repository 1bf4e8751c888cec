"""Pages of the quality area: review queue, dashboards, campaign quality, gold pairs."""

from django.urls import path

from . import views

urlpatterns = [
    path("review/", views.review_queue_view, name="review_queue"),
    path("review/pairs/<int:pair_id>/", views.review_pair_view, name="review_pair"),
    path("review/resolved/", views.resolved_reviews_view, name="resolved_reviews"),
    path(
        "review/prompts/<int:prompt_id>/correct/",
        views.prompt_correct_view,
        name="prompt_correct",
    ),
    path("dashboards/", views.dashboards_view, name="dashboards"),
    path("dashboards/<slug:table>.csv", views.dashboard_csv_view, name="dashboard_csv"),
    path("quality/campaigns/<slug:slug>/", views.campaign_quality_view, name="campaign_quality"),
    path(
        "quality/campaigns/<slug:slug>/consensus/",
        views.consensus_compute_view,
        name="consensus_compute",
    ),
    path("quality/pairs/<int:pair_id>/gold/", views.gold_pair_view, name="gold_pair"),
]
