"""A server error answers the app's own 500 page. Django renders it without a request context,
and it reads nothing that could itself be broken: not even the static files' manifest."""

from __future__ import annotations

from django.test import RequestFactory, override_settings
from django.views.defaults import server_error


@override_settings(
    DEBUG=False,
    STORAGES={
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        # A manifest storage with no manifest: any {% static %} on the page would raise.
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
            "OPTIONS": {"manifest_name": "no-such-manifest.json"},
        },
    },
)
def test_a_server_error_answers_the_apps_page() -> None:
    response = server_error(RequestFactory().get("/anything/"))
    assert response.status_code == 500
    html = response.content.decode()
    assert "<title>Server error · Graylab</title>" in html
    assert "try again" in html
