"""Django admin for accounts: the sign-in attempts and the user change log, to look up."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import SignInAttempt, UserChange


@admin.register(UserChange)
class UserChangeAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "action", "changed_by")
    list_filter = ("action", "created_at")
    search_fields = ("user__username", "changed_by__username")
    list_select_related = ("user", "changed_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SignInAttempt)
class SignInAttemptAdmin(admin.ModelAdmin):
    list_display = ("key", "at")
    search_fields = ("key",)
    date_hierarchy = "at"
