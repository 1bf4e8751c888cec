from django.apps import AppConfig

from accounts.navigation import NavigationEntry
from accounts.roles import Role


class GraylabConfig(AppConfig):
    """The project package as an app: health, the demo runner and its commands."""

    name = "config"
    label = "graylab"
    verbose_name = "Graylab"
    default_auto_field = "django.db.models.BigAutoField"
    navigation = (NavigationEntry("API", "api-docs", (Role.RESEARCHER, Role.ADMIN), position=90),)
