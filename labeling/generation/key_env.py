"""Which environment variables a model endpoint may read its API key from.

An endpoint sends the value of the variable it names to its base URL. Were any name allowed,
an admin account (or anyone holding one) could point an endpoint at their own server and name
``SECRET_KEY`` or ``DATABASE_URL``: so only names matching ``ENDPOINT_API_KEY_ENV_ALLOWED``
(``OPENAI_*`` and ``GRAYLAB_ENDPOINT_*`` by default) are accepted, and the variables holding
Graylab's own secrets never are, whatever the setting says.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from django.conf import settings

# Graylab's own secrets: refused even when a broad pattern would allow them.
NEVER_ALLOWED = frozenset({"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"})

NOT_A_NAME = (
    "Give the NAME of the environment variable that holds the key "
    "(letters, digits, underscores), never the key itself."
)


def key_env_rule() -> str:
    """The allowed names as admins read them, e.g. ``OPENAI_*, GRAYLAB_ENDPOINT_*``."""
    return ", ".join(settings.ENDPOINT_API_KEY_ENV_ALLOWED) or "(none)"


def key_env_allowed(name: str) -> bool:
    """Whether an endpoint may read its key from the variable ``name`` (blank: no key)."""
    if not name:
        return True
    if not name.isidentifier() or name in NEVER_ALLOWED:
        return False
    return any(fnmatchcase(name, pattern) for pattern in settings.ENDPOINT_API_KEY_ENV_ALLOWED)


def key_env_problem(name: str) -> str | None:
    """Why ``name`` may not hold an endpoint's key, or ``None`` when it may.

    The message never repeats the value: what was typed might be the key itself.
    """
    if key_env_allowed(name):
        return None
    if not name.isidentifier():
        return NOT_A_NAME
    return (
        f"The variable must match one of {key_env_rule()} "
        "(the setting ENDPOINT_API_KEY_ENV_ALLOWED); other variables may hold secrets "
        "that must never be sent to an endpoint."
    )
