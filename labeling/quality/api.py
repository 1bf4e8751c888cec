"""REST API of the quality area (under /api/v1/quality/): the same selectors and services."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import role_permission
from labeling.broker import BrokerUnavailable
from labeling.models import ConsensusRun, Pair, Prompt, Review
from presentation.api_errors import ServiceUnavailable

from . import dashboards as dashboard_module
from .agreement import agreement_report
from .bias import length_bias, position_bias
from .consensus import LIVE_JUDGMENTS_MAX, consensus_request
from .consensus_runs import (
    consensus_run_get,
    consensus_run_list,
    latest_consensus_run,
    latest_consensus_time,
    run_raters,
    run_results,
)
from .gold import gold_accuracy_by_annotator, pair_gold_clear, pair_gold_set
from .review import prompt_correct, review_queue, review_record
from .selectors import GOLD_ROLES, QUALITY_ROLES, REVIEW_ROLES, campaign_for_quality
from .serializers import (
    AgreementQuerySerializer,
    ConsensusRunDetailSerializer,
    ConsensusRunSerializer,
    CorrectionInputSerializer,
    GoldInputSerializer,
    ReviewInputSerializer,
)


def _campaign(request: Request, slug: str) -> Any:
    campaign = campaign_for_quality(request.user, slug)
    if campaign is None:
        raise Http404
    return campaign


class AgreementReportApi(APIView):
    """Krippendorff's α per field (with bootstrap CI) and pairwise Cohen's κ."""

    permission_classes = [role_permission(*QUALITY_ROLES)]

    @extend_schema(parameters=[AgreementQuerySerializer], responses={200: dict})
    def get(self, request: Request, slug: str) -> Response:
        campaign = _campaign(request, slug)
        query = AgreementQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(agreement_report(campaign=campaign, **query.validated_data))


class GoldAccuracyReportApi(APIView):
    """Per-annotator gold accuracy and who is flagged under the campaign's threshold."""

    permission_classes = [role_permission(*QUALITY_ROLES)]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, slug: str) -> Response:
        campaign = _campaign(request, slug)
        return Response(
            {
                "threshold": campaign.gold_accuracy_threshold,
                "annotators": gold_accuracy_by_annotator(campaign=campaign),
            }
        )


class BiasReportApi(APIView):
    """Position bias (left-win share) and length bias, campaign-wide and per annotator."""

    permission_classes = [role_permission(*QUALITY_ROLES)]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, slug: str) -> Response:
        campaign = _campaign(request, slug)
        return Response(
            {"position": position_bias(campaign=campaign), "length": length_bias(campaign=campaign)}
        )


class DashboardTableDetailApi(APIView):
    """One dashboard table as JSON rows (the same numbers as the page and its CSV); the
    annotators table also says when the consensus run its reliabilities come from was
    computed (``consensus_computed_at``, null without one)."""

    permission_classes = [role_permission(*QUALITY_ROLES)]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, slug: str, table: str) -> Response:
        if table not in dashboard_module.TABLE_FUNCTIONS:
            raise Http404
        campaign = _campaign(request, slug)
        columns, rows = dashboard_module.dashboard_table_rows(campaign=campaign, table=table)
        body: dict[str, Any] = {"table": table, "columns": columns, "rows": rows}
        if table == "annotators":
            body["consensus_computed_at"] = latest_consensus_time(campaign=campaign)
        return Response(body)


def consensus_run_data(run: ConsensusRun) -> dict[str, Any]:
    """A run with its per-field figures, raters and review flags, as the API answers it."""
    data = dict(ConsensusRunSerializer(run).data)
    done = run.status == ConsensusRun.Status.DONE
    data["results"] = run_results(run)
    data["raters"] = run_raters(run) if done else []
    data["review"] = run.summary.get("review") if done else None
    return data


class ConsensusRunListApi(APIView):
    """A campaign's consensus runs (quality roles), and starting one (researchers, admins)."""

    def get_permissions(self) -> list[Any]:
        roles = GOLD_ROLES if self.request.method == "POST" else QUALITY_ROLES
        return [role_permission(*roles)()]

    @extend_schema(
        responses=ConsensusRunSerializer(many=True),
        description="The campaign's consensus runs, newest first (at most 200).",
    )
    def get(self, request: Request, slug: str) -> Response:
        runs = consensus_run_list(campaign=_campaign(request, slug))
        return Response(ConsensusRunSerializer(runs, many=True).data)

    @extend_schema(
        request=None,
        responses={201: ConsensusRunDetailSerializer, 202: ConsensusRunDetailSerializer},
        summary="Compute the campaign's consensus",
        description=(
            "Models each field (response mode, severity, the preference's direction) with "
            "Dawid–Skene over every rater (annotators, imported labels, grader versions), "
            "stores the run and sends likely label errors to the review queue. A campaign of "
            f"at most {LIVE_JUDGMENTS_MAX} judgments is computed in the request: 201 with the "
            "figures. A larger one is computed by a worker: 202 with the queued run, whose "
            "`Location` to read until its status is `done`; a run already queued or running "
            "is answered instead of a second one. A field nobody rated, or where no item has "
            "two raters, has no figures and its `problem` says why."
        ),
    )
    def post(self, request: Request, slug: str) -> Response:
        try:
            run = consensus_request(campaign=_campaign(request, slug), user=request.user)
        except BrokerUnavailable as error:
            raise ServiceUnavailable(error.message) from error
        done = run.status == ConsensusRun.Status.DONE
        return Response(
            consensus_run_data(run),
            status=status.HTTP_201_CREATED if done else status.HTTP_202_ACCEPTED,
            headers={"Location": reverse("quality-consensus-run", args=[run.pk])},
        )


class ConsensusLatestApi(APIView):
    """The campaign's newest finished consensus run with its figures."""

    permission_classes = [role_permission(*QUALITY_ROLES)]

    @extend_schema(
        responses=ConsensusRunDetailSerializer,
        description="404 while no consensus has been computed for the campaign.",
    )
    def get(self, request: Request, slug: str) -> Response:
        run = latest_consensus_run(campaign=_campaign(request, slug))
        if run is None:
            raise Http404("No consensus computed for this campaign yet.")
        return Response(consensus_run_data(run))


class ConsensusRunDetailApi(APIView):
    """One consensus run by id: its status, and its figures once done."""

    permission_classes = [role_permission(*QUALITY_ROLES)]

    @extend_schema(responses=ConsensusRunDetailSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        run = consensus_run_get(run_id=run_id)
        if run is None:
            raise Http404("No such consensus run.")
        return Response(consensus_run_data(run))


class ReviewQueueListApi(APIView):
    """Pairs of a campaign that need a reviewer, most urgent first."""

    permission_classes = [role_permission(*REVIEW_ROLES)]

    @extend_schema(
        parameters=[OpenApiParameter("campaign", str, required=True)], responses={200: dict}
    )
    def get(self, request: Request) -> Response:
        slug = request.query_params.get("campaign")
        if not slug:
            raise ValidationError({"campaign": ["required (a campaign slug)"]})
        return Response(review_queue(campaign=_campaign(request, slug)))


def _review_data(review: Review) -> dict[str, Any]:
    return {
        "pair": review.pair_id,
        "reviewer": review.reviewer.get_username(),
        "resolution": review.resolution,
        "final_labels": review.final_labels,
        "notes": review.notes,
        "updated_at": review.updated_at,
    }


class ReviewDetailApi(APIView):
    """Read or record a pair's resolution (final labels, or discard)."""

    permission_classes = [role_permission(*REVIEW_ROLES)]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, pair_id: int) -> Response:
        review = get_object_or_404(Review.objects.select_related("reviewer"), pair_id=pair_id)
        return Response(_review_data(review))

    @extend_schema(request=ReviewInputSerializer, responses={200: dict})
    def put(self, request: Request, pair_id: int) -> Response:
        pair = get_object_or_404(Pair, pk=pair_id)
        data = ReviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        review = review_record(
            pair=pair,
            reviewer=request.user,
            resolution=data.validated_data["resolution"],
            final_labels=data.validated_data.get("final_labels"),
            notes=data.validated_data.get("notes", ""),
        )
        return Response(_review_data(review))


class PairGoldDetailApi(APIView):
    """Mark a pair as gold with its expected answer (PUT), or stop using it (DELETE)."""

    permission_classes = [role_permission(*GOLD_ROLES)]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, pair_id: int) -> Response:
        pair = get_object_or_404(Pair, pk=pair_id)
        return Response({"pair": pair.pk, "is_gold": pair.is_gold, "gold_answer": pair.gold_answer})

    @extend_schema(request=GoldInputSerializer, responses={200: dict})
    def put(self, request: Request, pair_id: int) -> Response:
        pair = get_object_or_404(Pair, pk=pair_id)
        data = GoldInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pair_gold_set(pair=pair, answer=data.validated_data)
        return Response({"pair": pair.pk, "is_gold": True, "gold_answer": pair.gold_answer})

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pair_id: int) -> Response:
        pair_gold_clear(pair=get_object_or_404(Pair, pk=pair_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PromptCorrectApi(APIView):
    """Correct a prompt's category and/or intent; each change is kept in its history."""

    permission_classes = [role_permission(*REVIEW_ROLES)]

    @extend_schema(request=CorrectionInputSerializer, responses={200: dict})
    def post(self, request: Request, prompt_id: int) -> Response:
        prompt = get_object_or_404(Prompt, pk=prompt_id)
        data = CorrectionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = prompt_correct(prompt=prompt, changed_by=request.user, **data.validated_data)
        return Response(
            {
                "prompt": prompt.pk,
                "category_path": prompt.category_path,
                "intent": prompt.intent,
                "changes": [
                    {"field": c.field, "old_value": c.old_value, "new_value": c.new_value}
                    for c in changes
                ],
            }
        )
