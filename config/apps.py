from django.apps import AppConfig


class GraylabConfig(AppConfig):
    """Project-wide pieces: roles and sign-in, health, the demo runner."""

    name = "config"
    label = "graylab"
    verbose_name = "Graylab"
    default_auto_field = "django.db.models.BigAutoField"
