from django.apps import AppConfig

from accounts.navigation import NavigationEntry
from accounts.roles import ALL_ROLES, Role


class PolicyConfig(AppConfig):
    name = "policy"
    verbose_name = "Policy"
    navigation = (
        NavigationEntry("Policy", "policy:taxonomy", (Role.ADMIN,), position=70),
        NavigationEntry("Rubric", "policy:rubric_current", tuple(ALL_ROLES), position=80),
    )
