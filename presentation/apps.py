from django.apps import AppConfig


class PresentationConfig(AppConfig):
    """Shared presentation helpers as an app, so its template tags load in any template.

    It has no models, navigation or start pages; it is installed only for ``templatetags``
    (``{% load untrusted_text %}``), which Django looks up in installed apps alone.
    """

    name = "presentation"
    label = "presentation"
    verbose_name = "Presentation"
