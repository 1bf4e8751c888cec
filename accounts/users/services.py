"""Every write of the user admin: create, change roles, details and memberships, deactivate,
reset a password. Each is one transaction and leaves a :class:`~accounts.models.UserChange`.

Two rules keep an install administrable: an admin never takes the admin role from themselves
nor deactivates themselves, and the last active admin keeps the role and stays active.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from accounts.models import UserChange
from accounts.roles import ALL_ROLES, Role

from .memberships import MembershipKind, membership_kinds

# 18 random bytes: 24 URL-safe characters, far past every password rule.
GENERATED_PASSWORD_BYTES = 18
Action = UserChange.Action


class UserAdminError(Exception):
    """Bad input or a refused change, as ``{field: [reasons]}``; nothing was changed."""

    def __init__(self, errors: Iterable[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in self.errors))

    def as_dict(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for field, reason in self.errors:
            result.setdefault(field, []).append(reason)
        return result


@dataclass(frozen=True)
class PasswordOutcome:
    """The password a change set: ``generated`` holds it when the server made it up (shown
    to the admin once, never stored in clear), else None."""

    generated: str | None


def generate_password() -> str:
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


def _user_model() -> Any:
    return get_user_model()


def _check_roles(roles: Iterable[str]) -> list[tuple[str, str]]:
    known = {str(role) for role in ALL_ROLES}
    return [
        ("roles", f"unknown role {role!r}; one of {', '.join(sorted(known))}")
        for role in roles
        if role not in known
    ]


def _check_email(email: str) -> list[tuple[str, str]]:
    if not email:
        return []
    try:
        validate_email(email)
    except ValidationError:
        return [("email", "is not a valid e-mail address")]
    return []


def _check_password(password: str, user: Any) -> list[tuple[str, str]]:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        return [("password", message) for message in error.messages]
    return []


def _check_memberships(
    memberships: Mapping[str, Sequence[int]] | None,
) -> tuple[list[tuple[str, str]], dict[MembershipKind, list[Any]]]:
    """The objects named per membership kind, or the errors naming unknown kinds and ids."""
    errors: list[tuple[str, str]] = []
    resolved: dict[MembershipKind, list[Any]] = {}
    if memberships is None:
        return errors, resolved
    kinds = {kind.key: kind for kind in membership_kinds()}
    for key, ids in memberships.items():
        kind = kinds.get(key)
        if kind is None:
            errors.append((key, f"unknown membership; one of {', '.join(sorted(kinds))}"))
            continue
        wanted = {int(pk) for pk in ids}
        found = list(kind.choices().filter(pk__in=wanted))
        missing = sorted(wanted - {obj.pk for obj in found})
        if missing:
            errors.append((key, f"no such id: {', '.join(str(pk) for pk in missing)}"))
        resolved[kind] = found
    return errors, resolved


def _roles_of(user: Any) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def _active_admins() -> Any:
    return (
        _user_model()
        .objects.filter(is_active=True)
        .filter(groups__name=Role.ADMIN)
        .union(_user_model().objects.filter(is_active=True, is_superuser=True))
    )


def _is_last_admin(user: Any) -> bool:
    """True when ``user`` is the only active admin (by role or as a superuser)."""
    return {row.pk for row in _active_admins()} == {user.pk}


def _record(*, user: Any, by: Any, action: str, changes: dict[str, list[Any]]) -> None:
    UserChange.objects.create(user=user, changed_by=by, action=action, changes=changes)


def _names(values: Iterable[Any]) -> str:
    text = ", ".join(sorted(str(value) for value in values))
    return text or "none"


def _set_roles(user: Any, roles: set[str]) -> None:
    user.groups.set(Group.objects.filter(name__in=roles))
    # The Django admin needs staff status; admins get it with the role and lose it without.
    if not user.is_superuser:
        user.is_staff = Role.ADMIN in roles
        user.save(update_fields=["is_staff"])
    user.__dict__.pop("_graylab_roles", None)


def _set_memberships(user: Any, by: Any, resolved: dict[MembershipKind, list[Any]]) -> None:
    changes: dict[str, list[Any]] = {}
    for kind, objects in resolved.items():
        before = list(kind.of(user))
        if {obj.pk for obj in before} == {obj.pk for obj in objects}:
            continue
        field = kind.model_class()._meta.get_field(kind.field)
        manager = getattr(user, str(field.remote_field.get_accessor_name()))  # type: ignore[union-attr]
        manager.set(objects)
        changes[kind.label] = [_names(before), _names(objects)]
    if changes:
        _record(user=user, by=by, action=Action.MEMBERSHIPS, changes=changes)


def _raise_if(errors: list[tuple[str, str]]) -> None:
    if errors:
        raise UserAdminError(errors)


@transaction.atomic
def user_create(
    *,
    by: Any,
    username: str,
    email: str = "",
    roles: Iterable[str] = (),
    password: str | None = None,
    memberships: Mapping[str, Sequence[int]] | None = None,
) -> tuple[AbstractUser, PasswordOutcome]:
    """Create an account; with no ``password`` one is generated and handed back once."""
    user_model = _user_model()
    username = (username or "").strip()
    email = (email or "").strip()
    roles = set(roles)
    errors: list[tuple[str, str]] = []
    if not username:
        errors.append(("username", "must not be empty"))
    else:
        for validator in user_model._meta.get_field("username").validators:
            try:
                validator(username)
            except ValidationError as error:
                errors += [("username", message) for message in error.messages]
        if user_model.objects.filter(username__iexact=username).exists():
            errors.append(("username", f"{username!r} is taken"))
    errors += _check_email(email)
    errors += _check_roles(roles)
    generated = None
    if password is None or password == "":
        generated = password = generate_password()
    errors += _check_password(password, user_model(username=username, email=email))
    membership_errors, resolved = _check_memberships(memberships)
    _raise_if(errors + membership_errors)
    user = user_model.objects.create_user(username=username, email=email, password=password)
    _set_roles(user, roles)
    _record(
        user=user,
        by=by,
        action=Action.CREATED,
        changes={"roles": [None, _names(roles)], "email": [None, email or "none"]},
    )
    _set_memberships(user, by, resolved)
    return user, PasswordOutcome(generated=generated)


@transaction.atomic
def user_update(
    *,
    by: Any,
    user: Any,
    email: str | None = None,
    roles: Iterable[str] | None = None,
    memberships: Mapping[str, Sequence[int]] | None = None,
) -> AbstractUser:
    """Change an account's e-mail, roles and memberships (what is None stays)."""
    user = _user_model().objects.select_for_update().get(pk=user.pk)
    errors: list[tuple[str, str]] = []
    if email is not None:
        email = email.strip()
        errors += _check_email(email)
    new_roles = set(roles) if roles is not None else None
    old_roles = _roles_of(user)
    if new_roles is not None:
        errors += _check_roles(new_roles)
        losing_admin = Role.ADMIN in old_roles and Role.ADMIN not in new_roles
        if losing_admin and user.pk == by.pk:
            errors.append(("roles", "you cannot remove your own admin role"))
        elif losing_admin and user.is_active and _is_last_admin(user):
            errors.append(("roles", f"{user.username} is the last active admin"))
    membership_errors, resolved = _check_memberships(memberships)
    _raise_if(errors + membership_errors)
    if email is not None and email != user.email:
        _record(user=user, by=by, action=Action.EDITED, changes={"email": [user.email, email]})
        user.email = email
        user.save(update_fields=["email"])
    if new_roles is not None and new_roles != old_roles:
        _set_roles(user, new_roles)
        _record(
            user=user,
            by=by,
            action=Action.ROLES,
            changes={"roles": [_names(old_roles), _names(new_roles)]},
        )
    _set_memberships(user, by, resolved)
    return user


@transaction.atomic
def user_set_active(*, by: Any, user: Any, active: bool) -> AbstractUser:
    """Deactivate (the account can no longer sign in; its sessions and tokens stop working)
    or reactivate an account."""
    user = _user_model().objects.select_for_update().get(pk=user.pk)
    if user.is_active == active:
        return user
    if not active:
        if user.pk == by.pk:
            raise UserAdminError([("is_active", "you cannot deactivate yourself")])
        if _is_last_admin(user):
            raise UserAdminError([("is_active", f"{user.username} is the last active admin")])
    user.is_active = active
    user.save(update_fields=["is_active"])
    _record(
        user=user,
        by=by,
        action=Action.REACTIVATED if active else Action.DEACTIVATED,
        changes={"active": ["no" if active else "yes", "yes" if active else "no"]},
    )
    return user


@transaction.atomic
def user_password_reset(*, by: Any, user: Any, password: str | None = None) -> PasswordOutcome:
    """Set a new password (checked against the password rules) or, with none, generate one."""
    user = _user_model().objects.select_for_update().get(pk=user.pk)
    generated = None
    if password is None or password == "":
        generated = password = generate_password()
    _raise_if(_check_password(password, user))
    user.set_password(password)
    user.save(update_fields=["password"])
    _record(
        user=user,
        by=by,
        action=Action.PASSWORD,
        changes={"password": ["", "generated" if generated else "set by an admin"]},
    )
    return PasswordOutcome(generated=generated)
