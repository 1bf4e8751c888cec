"""Django admin: published versions and history are read-only; category texts go through the
services (so history is recorded); structure is edited in the app's taxonomy editor."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from . import services
from .models import Category, PolicyChange, PolicyVersion, WorkingPolicy


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("path", "name", "active", "order")
    list_filter = ("active",)
    search_fields = ("path", "name")
    fields = (
        "path", "parent", "slug", "uid", "active", "order", "name", "description", "guidance",
        "examples_acceptable", "examples_unacceptable",
    )  # fmt: skip
    readonly_fields = ("path", "parent", "slug", "uid", "active", "order")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # add, move and deactivate in the taxonomy editor (/policy/)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Category, form: Any, change: bool) -> None:
        services.category_update(
            user=request.user,
            category=obj,
            name=obj.name,
            description=obj.description,
            guidance=obj.guidance,
            examples_acceptable=obj.examples_acceptable,
            examples_unacceptable=obj.examples_unacceptable,
        )


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnlyAdmin):
    list_display = ("number", "published_at", "published_by", "notes")


@admin.register(PolicyChange)
class PolicyChangeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "action", "path")
    list_filter = ("action",)
    search_fields = ("path",)


@admin.register(WorkingPolicy)
class WorkingPolicyAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "updated_at")
