"""API input of imports (prompts and candidates)."""

from __future__ import annotations

from rest_framework import serializers

from . import candidates as candidate_imports
from . import prompts as prompt_imports


class PromptImportSerializer(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=prompt_imports.FORMATS, required=False)
    default_category = serializers.CharField(required=False)
    default_intent = serializers.CharField(required=False)


class CandidateImportSerializer(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=candidate_imports.FORMATS)
    source_name = serializers.CharField(required=False, default="")
    default_category = serializers.CharField(required=False)
    default_intent = serializers.CharField(required=False)
