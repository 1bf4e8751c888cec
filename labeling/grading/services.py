"""Writes of graders: create one, and edit it (in place, or as a new version once frozen)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from policy.models import PolicyVersion

from ..models import Grader, GraderVersion, ModelEndpoint
from ..models.grading import GRADER_SAMPLES_MAX
from .templates import CANDIDATE, DEFAULT_TEMPLATES, PAIR, template_problems

VERSION_FIELDS: tuple[str, ...] = (
    "endpoint",
    "model",
    "temperature",
    "samples",
    "max_tokens",
    "seed",
    "candidate_template",
    "pair_template",
    "policy_version",
)
"""What a grader version pins: changing any of them after grading makes a new version."""
MAX_TOKENS_MAX = 32_768
SEED_MIN, SEED_MAX = -(2**63), 2**63 - 1
"""A seed is stored as a 64-bit integer."""

User = AbstractBaseUser | AnonymousUser | None


def _author(user: User) -> Any:
    return user if user is not None and user.is_authenticated else None


def _version_check(version: GraderVersion) -> None:
    """Every problem of a version's settings at once, each on its field."""
    problems: dict[str, list[str]] = {}
    for kind, field_name in ((CANDIDATE, "candidate_template"), (PAIR, "pair_template")):
        found = template_problems(getattr(version, field_name), kind)
        if found:
            problems[field_name] = found
    if not 1 <= version.samples <= GRADER_SAMPLES_MAX:
        problems["samples"] = [f"must be between 1 and {GRADER_SAMPLES_MAX}"]
    if not 0 <= version.temperature <= 2:
        problems["temperature"] = ["must be between 0 and 2"]
    if not 1 <= version.max_tokens <= MAX_TOKENS_MAX:
        problems["max_tokens"] = [f"must be between 1 and {MAX_TOKENS_MAX}"]
    if not SEED_MIN <= version.seed <= SEED_MAX:
        problems["seed"] = [f"must be between {SEED_MIN} and {SEED_MAX}"]
    if not version.model.strip():
        problems["model"] = ["name the model to ask"]
    if problems:
        raise ValidationError(problems)


def grader_create(
    *,
    name: str,
    endpoint: ModelEndpoint,
    policy_version: PolicyVersion,
    description: str = "",
    model: str = "",
    temperature: float = 0.0,
    samples: int = 1,
    max_tokens: int = 512,
    seed: int = 0,
    candidate_template: str | None = None,
    pair_template: str | None = None,
    created_by: User = None,
) -> GraderVersion:
    """A new grader and its version 1 (the default templates unless given); raises
    ``ValidationError`` on its field and stores nothing when anything is wrong."""
    author = _author(created_by)
    grader = Grader(name=name.strip(), description=description, created_by=author)
    version = GraderVersion(
        grader=grader,
        number=1,
        endpoint=endpoint,
        model=(model or endpoint.model).strip(),
        temperature=temperature,
        samples=samples,
        max_tokens=max_tokens,
        seed=seed,
        candidate_template=DEFAULT_TEMPLATES[CANDIDATE]
        if candidate_template is None
        else candidate_template,
        pair_template=DEFAULT_TEMPLATES[PAIR] if pair_template is None else pair_template,
        policy_version=policy_version,
        created_by=author,
    )
    grader.full_clean()
    _version_check(version)
    try:
        with transaction.atomic():
            grader.save()
            version.grader = grader
            version.save()
    except IntegrityError as error:
        raise ValidationError({"name": ["A grader with this name exists."]}) from error
    return version


@dataclass(frozen=True)
class GraderUpdate:
    """What an edit did: the version now current, and whether it is a new one."""

    version: GraderVersion
    is_new_version: bool


def grader_update(*, grader: Grader, changes: dict[str, Any], user: User = None) -> GraderUpdate:
    """Apply ``changes`` (``description`` and any of ``VERSION_FIELDS``) to ``grader``.

    The current version is changed in place while it has graded nothing; once it has a grade
    it is frozen and the changed settings become the next version, so a grade always names
    the exact prompt, model and policy that produced it. Settings equal to the current ones
    change nothing. Raises ``ValidationError`` (nothing stored) on bad settings.
    """
    unknown = set(changes) - {*VERSION_FIELDS, "description"}
    if unknown:
        raise ValidationError(f"Unknown grader settings: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        # The grader's row lock orders concurrent edits, so version numbers never collide.
        locked = Grader.objects.select_for_update().get(pk=grader.pk)
        current = locked.versions.select_for_update().order_by("-number").first()
        assert current is not None, "every grader has a version 1"
        if "description" in changes and changes["description"] != locked.description:
            locked.description = changes["description"]
            locked.save(update_fields=["description"])
        changed = {
            name: value
            for name, value in changes.items()
            if name in VERSION_FIELDS and getattr(current, name) != value
        }
        if not changed:
            grader.refresh_from_db()
            return GraderUpdate(version=current, is_new_version=False)
        if current.is_frozen:
            version = GraderVersion(
                grader=locked,
                number=current.number + 1,
                created_by=_author(user),
                **{name: getattr(current, name) for name in VERSION_FIELDS},
            )
        else:
            version = current
        for name, value in changed.items():
            setattr(version, name, value)
        _version_check(version)
        version.save()
    grader.refresh_from_db()
    return GraderUpdate(version=version, is_new_version=version.pk != current.pk)
