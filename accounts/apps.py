from django.apps import AppConfig

from .navigation import NavigationEntry
from .roles import Role


class AccountsConfig(AppConfig):
    """Roles and sign-in: who may see what, and where each role starts its day."""

    name = "accounts"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.BigAutoField"
    navigation = (NavigationEntry("Users", "accounts:user_list", (Role.ADMIN,), position=90),)
