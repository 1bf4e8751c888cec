from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Roles and sign-in: who may see what, and where each role starts its day."""

    name = "accounts"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.BigAutoField"
