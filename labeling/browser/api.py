"""REST API of the data browser (under /api/v1/browser/): the same listing and bulk actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import role_permission
from labeling.models import Candidate, Judgment, Pair, Prompt
from labeling.quality.selectors import QUALITY_ROLES, campaign_for_quality

from .candidate_values import candidate_values_check
from .selectors import (
    TABLES,
    page_of,
    page_rows_loaded,
    prompt_text,
    query_parse,
    rows_matching,
)
from .serializers import BulkInputSerializer
from .services import actions_for, pairs_bulk_apply, selection_resolve


def _campaign(request: Request, slug: str) -> Any:
    campaign = campaign_for_quality(request.user, slug)
    if campaign is None:
        raise Http404
    return campaign


def _prompt(prompt: Prompt) -> dict[str, Any]:
    return {
        "id": prompt.pk,
        "external_id": prompt.external_id,
        "category": prompt.category_path,
        "intent": prompt.intent,
        "text": prompt_text(prompt),
    }


def _candidate(candidate: Candidate) -> dict[str, Any]:
    return {
        "id": candidate.pk,
        "prompt": candidate.prompt_id,
        "source": candidate.source,
        "model": candidate.model,
        "style": candidate.style,
        "text": candidate.text,
    }


def _pair(pair: Pair) -> dict[str, Any]:
    review = getattr(pair, "review", None)
    return {
        "id": pair.pk,
        "prompt": _prompt(pair.prompt),
        "a": _candidate(pair.candidate_a),
        "b": _candidate(pair.candidate_b),
        "judgments": pair.judgment_count,
        "agreement": getattr(pair, "browser_agreement", "") or None,
        "is_gold": pair.is_gold,
        "review": review.resolution if review is not None else None,
        "review_requested": getattr(pair, "browser_requested", False),
        "excluded_from_exports": getattr(pair, "browser_excluded", False),
    }


def _judgment(judgment: Judgment) -> dict[str, Any]:
    return {
        "id": judgment.pk,
        "pair": judgment.pair_id,
        "annotator": judgment.annotator.get_username(),
        "a": {
            "response_mode": judgment.a_response_mode,
            "severity": judgment.a_severity,
            "helpfulness": judgment.a_helpfulness,
        },
        "b": {
            "response_mode": judgment.b_response_mode,
            "severity": judgment.b_severity,
            "helpfulness": judgment.b_helpfulness,
        },
        "preference": judgment.preference,
        "flags": judgment.flags,
        "rationale": judgment.rationale,
        "created_at": judgment.created_at,
    }


SHAPES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "prompts": _prompt,
    "candidates": _candidate,
    "pairs": _pair,
    "judgments": _judgment,
}


class BrowserListApi(APIView):
    """One keyset page of a campaign's prompts, candidates, pairs or judgments, with the
    browser's search and filters as query parameters; ``next`` / ``previous`` are cursors
    (pass them as ``after`` / ``before``)."""

    permission_classes = [role_permission(*QUALITY_ROLES)]

    @extend_schema(
        parameters=[
            OpenApiParameter(name, str, required=False)
            for name in (
                "q",
                "category",
                "intent",
                "source",
                "model",
                "style",
                "judgments_min",
                "judgments_max",
                "agreement",
                "flag",
                "gold",
                "review",
                "excluded",
                "sort",
                "size",
                "after",
                "before",
            )
        ],
        responses={200: dict},
    )
    def get(self, request: Request, slug: str, table: str) -> Response:
        if table not in TABLES:
            raise Http404
        campaign = _campaign(request, slug)
        query = query_parse({**request.query_params.dict(), "table": table})
        candidate_values_check(campaign, query)
        page = page_of(rows_matching(campaign, query), query)
        page_rows_loaded(page, query)
        return Response(
            {
                "count": page.count if not page.count_capped else None,
                "count_at_least": page.count_at_least,
                "next": page.next_cursor or None,
                "previous": page.previous_cursor or None,
                "results": [SHAPES[table](row) for row in page.rows],
            }
        )


class PairBulkActionApi(APIView):
    """A bulk action on pairs: ``gold``, ``review``, ``exclude`` or ``include``; answers the
    counts done and skipped, each skipped pair with its reason."""

    permission_classes = [role_permission(*QUALITY_ROLES)]

    @extend_schema(request=BulkInputSerializer, responses={200: dict})
    def post(self, request: Request, slug: str) -> Response:
        campaign = _campaign(request, slug)
        data = BulkInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        action = data.validated_data["action"]
        if action not in actions_for(request.user):
            raise PermissionDenied
        if data.validated_data["all_matching"]:
            filters = dict(data.validated_data.get("filters") or {})
            query = query_parse({**filters, "table": "pairs"})
            candidate_values_check(campaign, query)
            pair_ids = selection_resolve(campaign=campaign, query=query)
        else:
            pair_ids = selection_resolve(campaign=campaign, pair_ids=data.validated_data["pairs"])
        outcome = pairs_bulk_apply(action=action, pair_ids=pair_ids, user=request.user)
        return Response(outcome.as_dict())
