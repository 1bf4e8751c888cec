"""Model endpoints (admins only — the views and API check the role): register, edit, test."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from ..models import ModelEndpoint
from .client import endpoint_list_models
from .key_env import key_env_problem


def _check_env_name(api_key_env: str) -> str:
    name = api_key_env.strip()
    problem = key_env_problem(name)
    if problem is not None:
        raise ValidationError({"api_key_env": problem})
    return name


def endpoint_create(
    *,
    name: str,
    base_url: str,
    model: str,
    api_key_env: str = "",
    timeout_seconds: float = 60.0,
    concurrency_limit: int = 8,
) -> ModelEndpoint:
    """Register an OpenAI-compatible endpoint (its key stays in the environment)."""
    endpoint = ModelEndpoint(
        name=name.strip(),
        base_url=base_url.strip(),
        model=model.strip(),
        api_key_env=_check_env_name(api_key_env),
        timeout_seconds=timeout_seconds,
        concurrency_limit=concurrency_limit,
    )
    _validate_endpoint(endpoint)
    endpoint.save()
    return endpoint


def endpoint_update(*, endpoint: ModelEndpoint, **changes: Any) -> ModelEndpoint:
    """Change an endpoint's settings."""
    allowed = {"name", "base_url", "model", "api_key_env", "timeout_seconds", "concurrency_limit"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"Unknown endpoint settings: {', '.join(sorted(unknown))}")
    if "api_key_env" in changes:
        changes["api_key_env"] = _check_env_name(changes["api_key_env"])
    for field, value in changes.items():
        setattr(endpoint, field, value)
    _validate_endpoint(endpoint)
    endpoint.save()
    return endpoint


def _validate_endpoint(endpoint: ModelEndpoint) -> None:
    if not 0 < endpoint.timeout_seconds <= 3600:
        raise ValidationError({"timeout_seconds": "must be between 0 and 3600 seconds"})
    if not 1 <= endpoint.concurrency_limit <= 1024:
        raise ValidationError({"concurrency_limit": "must be between 1 and 1024"})
    endpoint.full_clean()


def endpoint_test(*, endpoint: ModelEndpoint) -> list[str]:
    """List the endpoint's models; raises :class:`CallError` (detail truncated, key redacted)."""
    return endpoint_list_models(endpoint)


def lease_seconds(endpoint: ModelEndpoint) -> float:
    """How long a claim lasts: a slot wait and a call, each at most the timeout, plus margin."""
    return 2 * endpoint.timeout_seconds + 5.0
