"""A server error answers the app's own 500 page: rendered with no request context, so it
depends on nothing that might itself be what failed."""

from __future__ import annotations

import re

from django.test import RequestFactory, override_settings
from django.views.defaults import server_error


@override_settings(DEBUG=False)
def test_a_server_error_answers_the_apps_page() -> None:
    response = server_error(RequestFactory().get("/anything/"))
    assert response.status_code == 500
    html = response.content.decode()
    assert "<title>Server error · Graylab</title>" in html
    assert "try again" in html
    assert re.search(r'href="/static/css/graylab[.\w]*\.css"', html)
