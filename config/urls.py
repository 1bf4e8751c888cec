from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.views import with_throttled_page

from . import views

urlpatterns = [
    path("", include("accounts.urls")),
    path("", include(("accounts.users.urls", "accounts"), namespace="accounts")),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    # Before admin.site.urls, so the admin's log-in answers 429 like the others when throttled.
    path("admin/login/", with_throttled_page(admin.site.login)),
    path("admin/", admin.site.urls),
    path("policy/", include("policy.urls")),
    path("", include("labeling.urls")),
    path("exports/", include("exports.urls")),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        # The split view serves its start-up script from a URL of its own: the
        # Content-Security-Policy allows no inline script.
        login_not_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
]
