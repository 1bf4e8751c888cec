"""API shapes of the data browser."""

from __future__ import annotations

from rest_framework import serializers

from .services import ACTIONS


class BulkInputSerializer(serializers.Serializer):
    """A bulk action on pairs named by id, or on every pair a browser query matches."""

    action = serializers.ChoiceField(choices=list(ACTIONS))
    pairs = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)
    all_matching = serializers.BooleanField(default=False)
    filters = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        help_text="the listing's query parameters (q, category, intent, …) when all_matching",
    )

    def validate(self, attrs: dict) -> dict:
        if attrs["all_matching"] == bool(attrs.get("pairs")):
            raise serializers.ValidationError(
                {"pairs": ["give either pairs or all_matching with filters, not both"]}
            )
        return attrs
