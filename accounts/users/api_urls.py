"""REST routes of the user admin, under /api/v1/users/."""

from django.urls import path

from . import api

urlpatterns = [
    path("users/", api.UserListApi.as_view(), name="api-user-list"),
    path("users/<int:pk>/", api.UserDetailApi.as_view(), name="api-user-detail"),
    path("users/<int:pk>/password/", api.UserPasswordApi.as_view(), name="api-user-password"),
    path("users/<int:pk>/changes/", api.UserChangeListApi.as_view(), name="api-user-changes"),
]
