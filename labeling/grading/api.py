"""REST API of graders (researchers and admins): list, create, read, edit, versions, preview;
and grading runs: start, list, read with progress, cancel, resume."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import role_permission
from accounts.roles import Role, has_role
from policy.models import PolicyVersion
from policy.rubric import INTENTS
from policy.selectors import latest_version
from presentation.api_errors import ServiceUnavailable

from ..broker import BrokerUnavailable
from ..models import Campaign, Grader, GradingRun, ModelEndpoint
from . import calibration, impact, regrade, runs, services
from . import selectors as grading_selectors
from .preview import Preview, grader_preview
from .serializers import (
    GraderCreateSerializer,
    GraderSerializer,
    GraderUpdateResultSerializer,
    GraderUpdateSerializer,
    GraderVersionSerializer,
    GradingRunCreateSerializer,
    GradingRunDetailSerializer,
    GradingRunSerializer,
    ImpactScopeSerializer,
    PreviewRequestSerializer,
    PreviewSerializer,
    RegradeRequestSerializer,
)

Research = role_permission(Role.RESEARCHER, Role.ADMIN)


def _endpoint(name: str) -> ModelEndpoint:
    endpoint = ModelEndpoint.objects.filter(name=name).first()
    if endpoint is None:
        raise ValidationError({"endpoint": [f"No endpoint is named {name!r}."]})
    return endpoint


def _policy_version(number: int) -> PolicyVersion:
    version = PolicyVersion.objects.filter(number=number).first()
    if version is None:
        raise ValidationError({"policy_version": [f"No policy version {number} is published."]})
    return version


def _settings(data: dict[str, Any]) -> dict[str, Any]:
    """Service arguments from validated input: names and numbers become rows."""
    settings = {key: value for key, value in data.items() if key not in ("name",)}
    if "endpoint" in settings:
        settings["endpoint"] = _endpoint(settings["endpoint"])
    if "policy_version" in settings:
        settings["policy_version"] = _policy_version(settings["policy_version"])
    return settings


def preview_data(preview: Preview, *, show_call_detail: bool) -> dict[str, Any]:
    """A preview as JSON; what the endpoint answered on a failed call is for admins only."""
    return {
        "kind": preview.kind,
        "item_id": preview.item_id,
        "version": preview.version.number,
        "orders": [
            {
                "order": shown.order,
                "prompt": shown.prompt,
                "samples": [
                    {
                        "raw": sample.raw,
                        "values": sample.values,
                        "error": sample.error.as_dict() if sample.error else None,
                    }
                    for sample in shown.samples
                ],
                "grade": asdict(shown.grade) if shown.grade else None,
                "call_error": (shown.call_error if show_call_detail else shown.call_error_kind),
                "notes": shown.notes,
                "prompt_tokens": shown.prompt_tokens,
                "completion_tokens": shown.completion_tokens,
                "latency_ms": shown.latency_ms,
            }
            for shown in preview.orders
        ],
    }


class GraderListApi(APIView):
    permission_classes = [Research]

    @extend_schema(responses=GraderSerializer(many=True))
    def get(self, request: Request) -> Response:
        graders = grading_selectors.grader_list_with_versions()
        return Response(GraderSerializer(graders, many=True).data)

    @extend_schema(request=GraderCreateSerializer, responses={201: GraderSerializer})
    def post(self, request: Request) -> Response:
        serializer = GraderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        settings = _settings(data)
        if "policy_version" not in settings:
            settings["policy_version"] = latest_version()
        version = services.grader_create(name=data["name"], created_by=request.user, **settings)
        return Response(
            GraderSerializer(version.grader, context={"current_version": version}).data,
            status=status.HTTP_201_CREATED,
        )


class GraderDetailApi(APIView):
    permission_classes = [Research]

    @extend_schema(responses=GraderSerializer)
    def get(self, request: Request, name: str) -> Response:
        grader = get_object_or_404(grading_selectors.grader_list_with_versions(), name=name)
        return Response(GraderSerializer(grader).data)

    @extend_schema(
        request=GraderUpdateSerializer,
        responses=GraderUpdateResultSerializer,
        description="Change a grader. The current version changes in place while it has "
        "graded nothing; once it has grades the changes become the next version "
        "(is_new_version).",
    )
    def patch(self, request: Request, name: str) -> Response:
        grader = grading_selectors.grader_get(name=name)
        serializer = GraderUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        update = services.grader_update(
            grader=grader, changes=_settings(dict(serializer.validated_data)), user=request.user
        )
        context = {"current_version": update.version, "is_new_version": update.is_new_version}
        return Response(GraderUpdateResultSerializer(grader, context=context).data)


class GraderVersionListApi(APIView):
    permission_classes = [Research]

    @extend_schema(responses=GraderVersionSerializer(many=True))
    def get(self, request: Request, name: str) -> Response:
        grader = grading_selectors.grader_get(name=name)
        versions = grading_selectors.grader_versions(grader=grader)
        return Response(GraderVersionSerializer(versions, many=True).data)


class GraderPreviewApi(APIView):
    permission_classes = [Research]

    @extend_schema(
        request=PreviewRequestSerializer,
        responses=PreviewSerializer,
        description="Grade one candidate, or one pair in both orders, now; nothing is stored.",
    )
    def post(self, request: Request, name: str) -> Response:
        grader = grading_selectors.grader_get(name=name)
        serializer = PreviewRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        version = (
            grading_selectors.grader_version_get(grader=grader, number=data["version"])
            if "version" in data
            else grading_selectors.grader_current_version(grader=grader)
        )
        if "candidate" in data:
            candidate = grading_selectors.candidate_for_grading(candidate_id=data["candidate"])
            preview = grader_preview(version, candidate=candidate)
        else:
            pair = grading_selectors.pair_for_grading(pair_id=data["pair"])
            preview = grader_preview(version, pair=pair)
        show_detail = has_role(request.user, Role.ADMIN)
        return Response(preview_data(preview, show_call_detail=show_detail))


Calibrating = role_permission(Role.RESEARCHER, Role.REVIEWER, Role.ADMIN)


class CampaignCalibrationApi(APIView):
    permission_classes = [Calibrating]

    @extend_schema(
        parameters=[
            OpenApiParameter("grader", str, required=True, description="the grader's name"),
            OpenApiParameter("version", int, description="default: its latest with grades"),
            OpenApiParameter("category", str, description="only prompts of this category"),
            OpenApiParameter("intent", str, description="only prompts of this intent"),
        ],
        responses={200: OpenApiResponse(description="one object per rubric field")},
        summary="A grader version against the campaign's humans",
        description=(
            "Per rubric field: Krippendorff's α of the grader and the humans' consensus with a "
            "seeded bootstrap 95% interval, Cohen's κ, the items both rated, α among the "
            "humans (`human_alpha`), the confusion matrix and the disagreeing items (the "
            "largest distance first, at most 100). `computed_at` is null when the figures were "
            "computed for this request; a campaign of more than "
            f"{calibration.LIVE_PAIRS_MAX} pairs is answered from its last computation, made "
            "at `computed_at` (202 while the first one runs)."
        ),
    )
    def get(self, request: Request, slug: str) -> Response:
        campaign = calibration.calibration_campaign(slug=slug)
        grader = grading_selectors.grader_get(name=request.query_params.get("grader", ""))
        number = request.query_params.get("version")
        if number is not None and not number.isdigit():
            raise ValidationError({"version": ["must be a whole number"]})
        intent = request.query_params.get("intent")
        if intent is not None and intent not in INTENTS:
            raise ValidationError({"intent": [f"must be one of {', '.join(INTENTS)}"]})
        category = request.query_params.get("category") or None
        # A large campaign's whole figures come from its snapshot (one of a category or an
        # intent is computed in the request: a part of the campaign).
        snapshot = None
        if category is None and intent is None and calibration.served_from_snapshot(campaign):
            snapshot = calibration.calibration_snapshot(campaign)
            if snapshot is None or snapshot.computed_at is None:
                calibration.calibration_refresh_request(campaign=campaign)
                return Response(
                    {"detail": "The figures are being computed; ask again in a minute."},
                    status=202,
                )
            graded = [v for v in calibration.snapshot_versions(snapshot) if v.grader == grader]
        else:
            graded = [
                v for v in calibration.graded_versions(campaign=campaign) if v.grader == grader
            ]
        version = (
            grading_selectors.grader_version_get(grader=grader, number=int(number))
            if number is not None
            else (graded[-1] if graded else grading_selectors.grader_current_version(grader=grader))
        )
        stored = snapshot.figures["versions"].get(str(version.pk)) if snapshot else None
        if stored is not None:
            figures = stored["figures"]
        else:
            figures = calibration.grader_calibration(
                version=version, campaign=campaign, category=category, intent=intent
            )
        return Response(
            {
                "grader": grader.name,
                "version": version.number,
                "fields": figures,
                "computed_at": snapshot.computed_at if stored is not None else None,  # type: ignore[union-attr]
            }
        )


def grading_run_data(run: GradingRun) -> dict[str, Any]:
    """A run with its progress (counts, rate, ETA, errors by kind), as the API answers it."""
    progress = grading_selectors.grading_run_progress(run=run)
    data = dict(GradingRunSerializer(run).data)
    data["progress"] = {
        key: progress[key]
        for key in (
            "finished",
            "remaining",
            "percent",
            "elapsed_seconds",
            "rate_per_second",
            "eta_seconds",
            "by_status",
        )
    }
    data["progress"]["errors_by_kind"] = {
        row["error_kind"]: row["total"] for row in progress["errors_by_kind"]
    }
    return data


class GradingRunListApi(APIView):
    permission_classes = [Research]

    @extend_schema(responses=GradingRunSerializer(many=True))
    def get(self, request: Request) -> Response:
        listed = grading_selectors.grading_run_list()[:200]
        return Response(GradingRunSerializer(listed, many=True).data)

    @extend_schema(
        request=GradingRunCreateSerializer,
        responses={201: GradingRunDetailSerializer},
        description=(
            "Start a grading run of the grader's current version. Answers 503 (and creates "
            "nothing) while the task broker is down."
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = GradingRunCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        campaign = Campaign.objects.filter(slug=data["campaign"]).first()
        if campaign is None:
            raise ValidationError({"campaign": [f"No campaign is named {data['campaign']!r}."]})
        grader = Grader.objects.filter(name=data["grader"]).first()
        if grader is None:
            raise ValidationError({"grader": [f"No grader is named {data['grader']!r}."]})
        try:
            run = runs.run_create(
                campaign=campaign,
                grader_version=grading_selectors.grader_current_version(grader=grader),
                candidates=data["candidates"],
                pairs=data["pairs"],
                limit=data.get("limit"),
                created_by=request.user,  # type: ignore[arg-type]
            )
        except BrokerUnavailable as error:
            raise ServiceUnavailable(error.message) from error
        return Response(grading_run_data(run), status=status.HTTP_201_CREATED)


class GradingRunDetailApi(APIView):
    permission_classes = [Research]

    @extend_schema(responses=GradingRunDetailSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(grading_run_data(grading_selectors.grading_run_get(run_id=pk)))


class GradingRunActionApi(APIView):
    permission_classes = [Research]
    action_name = ""

    @extend_schema(request=None, responses=GradingRunDetailSerializer)
    def post(self, request: Request, pk: int) -> Response:
        run = get_object_or_404(GradingRun, pk=pk)
        if self.action_name == "cancel":
            runs.run_cancel(run=run)
        else:
            runs.run_resume(run=run)
        return Response(grading_run_data(grading_selectors.grading_run_get(run_id=pk)))


def _campaign_named(slug: str | None) -> Campaign | None:
    if not slug:
        return None
    campaign = Campaign.objects.filter(slug=slug).first()
    if campaign is None:
        raise ValidationError({"campaign": [f"No campaign is named {slug!r}."]})
    return campaign


class GraderRegradeApi(APIView):
    permission_classes = [Research]

    @extend_schema(
        request=RegradeRequestSerializer,
        responses={201: dict, 200: dict},
        summary="Re-grade under another policy version",
        description=(
            "Makes (or reuses) the version that differs from the grader's current version in "
            "its policy version only, and starts one grading run per campaign over exactly the "
            "items the current version graded. Answers 201 when runs started, 200 when the "
            "re-grade exists and nothing was left to start; 400 (nothing created) when the "
            "policy version is not published, is the one applied already, nothing was graded, "
            "or items' categories are missing from it (unless grade_missing_categories); 503 "
            "(nothing created) while the task broker is down."
        ),
    )
    def post(self, request: Request, name: str) -> Response:
        grader = grading_selectors.grader_get(name=name)
        serializer = RegradeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            done = regrade.grader_regrade(
                grader=grader,
                policy_version=data["policy_version"],
                campaign=_campaign_named(data.get("campaign")),
                grade_missing_categories=data["grade_missing_categories"],
                user=request.user,
            )
        except BrokerUnavailable as error:
            raise ServiceUnavailable(error.message) from error
        body = {
            "grader": grader.name,
            "from_version": done.source.number,
            "version": done.version.number,
            "policy_version": done.version.policy_version.number,
            "version_created": done.version_created,
            "missing_categories": done.missing_categories,
            "runs": [GradingRunSerializer(run).data for run in done.runs],
            "started": [run.pk for run in done.started],
        }
        return Response(
            body, status=status.HTTP_201_CREATED if done.started else status.HTTP_200_OK
        )


def _impact_versions(name: str, old: int, new: int) -> tuple[Any, Any]:
    grader = grading_selectors.grader_get(name=name)
    if old == new:
        raise ValidationError({"to_version": ["Compare two different versions."]})
    return (
        grading_selectors.grader_version_get(grader=grader, number=old),
        grading_selectors.grader_version_get(grader=grader, number=new),
    )


class RegradeImpactApi(APIView):
    permission_classes = [Calibrating]

    @extend_schema(
        parameters=[ImpactScopeSerializer],
        responses={200: OpenApiResponse(description="the impact report")},
        summary="Which labels flip from one grader version to another",
        description=(
            "Counts of items graded by both versions, by one only, and flipped; flips per kind "
            "(safe_to_unsafe, unsafe_to_safe, severity_up, severity_down, response_mode, "
            "helpfulness_up, helpfulness_down, preference_direction) overall and per category; "
            "every flipped candidate and pair, largest change first, with its review state; "
            "`partial` while a run over these items is going."
        ),
    )
    def get(self, request: Request, name: str, old: int, new: int) -> Response:
        old_version, new_version = _impact_versions(name, old, new)
        query = ImpactScopeSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        campaign = _campaign_named(query.validated_data.get("campaign"))
        return Response(impact.regrade_impact(old=old_version, new=new_version, campaign=campaign))


class RegradeImpactSendApi(APIView):
    permission_classes = [Calibrating]

    @extend_schema(
        request=ImpactScopeSerializer,
        responses={200: dict},
        summary="Send the flipped items to the review queue",
        description=(
            "Each flipped pair, and each pair holding a flipped candidate, enters the review "
            "queue with a reason naming the flips; a pair sent for this comparison before is "
            "not sent again (`already`)."
        ),
    )
    def post(self, request: Request, name: str, old: int, new: int) -> Response:
        old_version, new_version = _impact_versions(name, old, new)
        scope = ImpactScopeSerializer(data=request.data)
        scope.is_valid(raise_exception=True)
        sent = regrade.impact_send_to_review(
            old=old_version,
            new=new_version,
            campaign=_campaign_named(scope.validated_data.get("campaign")),
            user=request.user,
        )
        return Response({"added": sent.added, "already": sent.already})
