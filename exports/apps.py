from django.apps import AppConfig

from accounts.navigation import NavigationEntry
from accounts.roles import Role


class ExportsConfig(AppConfig):
    name = "exports"
    verbose_name = "Exports"
    navigation = (
        NavigationEntry("Exports", "exports:list", (Role.RESEARCHER, Role.ADMIN), position=50),
    )
