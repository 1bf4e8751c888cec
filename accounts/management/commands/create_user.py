"""python manage.py create_user NAME --role ROLE [--role ROLE ...] [--password-env VAR]"""

from __future__ import annotations

import getpass
import os
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.roles import ALL_ROLES


class Command(BaseCommand):
    help = "Create a user (or update an existing one) with one or more roles."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="user name")
        parser.add_argument(
            "--role",
            action="append",
            required=True,
            choices=[str(role) for role in ALL_ROLES],
            help="role to grant; repeat for several",
        )
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-env",
            metavar="VAR",
            help="read the password from this environment variable instead of prompting",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"].strip()
        if not name:
            raise CommandError("name: must not be empty")
        password = self._password(options.get("password_env"))
        user_model = get_user_model()
        candidate = user_model(username=name, email=options["email"])
        try:
            validate_password(password, candidate)
        except ValidationError as error:
            raise CommandError("password: " + " ".join(error.messages)) from error
        with transaction.atomic():
            user, created = user_model.objects.get_or_create(
                username=name, defaults={"email": options["email"]}
            )
            user.set_password(password)
            is_admin = "admin" in options["role"]
            user.is_staff = user.is_staff or is_admin
            user.save()
            user.groups.add(*Group.objects.filter(name__in=options["role"]))
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} user {name} with role(s) {', '.join(options['role'])}.")

    def _password(self, variable: str | None) -> str:
        if variable:
            value = os.environ.get(variable)
            if not value:
                raise CommandError(f"--password-env: environment variable {variable} is not set")
            return value
        first = getpass.getpass("Password: ")
        second = getpass.getpass("Password (again): ")
        if first != second:
            raise CommandError("password: the two entries differ")
        return first
