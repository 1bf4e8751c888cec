"""Graders (a model applying the written policy), their frozen versions, and their grades.

Grades are kept apart from human judgments, so AI labels are never mixed into human ones by
accident; every grade names the exact grader version (prompt, model, sampling, policy) that
produced it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from policy.rubric import (
    HELPFULNESS_MAX,
    HELPFULNESS_MIN,
    PREFERENCE_MAX,
    PREFERENCE_MIN,
    ResponseMode,
    Severity,
)

from .runs import PlannedRow, PlannedRun

GRADER_SAMPLES_MAX = 16
"""The most samples per item a grader version asks for (self-consistency)."""


class Grader(models.Model):
    """A named grader; what it does lives in its versions, the newest being the current one."""

    name = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class GraderVersion(models.Model):
    """One exact grader: endpoint and model, sampling, prompt templates and pinned policy.

    A version that has graded anything is frozen (an edit makes the next version), so a grade's
    version names exactly what produced it.
    """

    grader = models.ForeignKey(Grader, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    endpoint = models.ForeignKey(
        "labeling.ModelEndpoint", on_delete=models.PROTECT, related_name="grader_versions"
    )
    model = models.CharField(max_length=200, help_text="the model name sent to the endpoint")
    temperature = models.FloatField(default=0.0)
    samples = models.PositiveSmallIntegerField(
        default=1, help_text="answers asked per item; their agreement is the confidence"
    )
    max_tokens = models.PositiveIntegerField(default=512)
    seed = models.BigIntegerField(default=0)
    candidate_template = models.TextField(help_text="the prompt for grading one candidate")
    pair_template = models.TextField(help_text="the prompt for grading a pair")
    policy_version = models.ForeignKey("policy.PolicyVersion", on_delete=models.PROTECT)
    regraded_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="regrades",
        help_text="the version this one re-grades under another policy version; the two differ "
        "in their policy version only",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("grader", "-number")
        constraints = [
            models.UniqueConstraint(fields=("grader", "number"), name="grader_version_unique"),
            models.CheckConstraint(
                condition=models.Q(samples__gte=1, samples__lte=GRADER_SAMPLES_MAX),
                name="grader_version_samples_range",
            ),
            models.CheckConstraint(
                condition=models.Q(temperature__gte=0, temperature__lte=2),
                name="grader_version_temperature_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.grader.name} v{self.number}"

    @property
    def is_frozen(self) -> bool:
        """Whether this version may never change: it has graded anything, or it is a re-grade,
        whose whole point is to differ from its source in the policy version only."""
        return self.regraded_from_id is not None or self.grades.exists()


class Grade(models.Model):
    """A grader version's combined answer about one candidate, or one pair in one order.

    Pair preferences are stored in canonical order (negative: candidate A better), whatever
    order was shown; ``order`` says which was shown first, so the two orders of a pair can be
    compared for position consistency.
    """

    class Kind(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        PAIR = "pair", "Pair"

    class Order(models.TextChoices):
        AB = "ab", "A shown first"
        BA = "ba", "B shown first"

    grader_version = models.ForeignKey(
        GraderVersion, on_delete=models.PROTECT, related_name="grades"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    candidate = models.ForeignKey(
        "labeling.Candidate",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="grades",
    )
    pair = models.ForeignKey(
        "labeling.Pair", null=True, blank=True, on_delete=models.CASCADE, related_name="grades"
    )
    order = models.CharField(
        max_length=2, choices=Order.choices, blank=True, help_text="pairs only: the order shown"
    )
    response_mode = models.CharField(
        max_length=30, choices=ResponseMode.choices, null=True, blank=True
    )
    severity = models.CharField(max_length=12, choices=Severity.choices, null=True, blank=True)
    helpfulness = models.PositiveSmallIntegerField(null=True, blank=True)
    preference = models.SmallIntegerField(
        null=True, blank=True, help_text="canonical: -2 A much better .. +2 B much better"
    )
    confidence = models.FloatField(
        help_text="the lowest share of samples agreeing with the grade on one rated field"
    )
    field_confidence = models.JSONField(
        default=dict, blank=True, help_text="field -> share of samples agreeing on it"
    )
    samples = models.PositiveSmallIntegerField(default=1)
    rationale = models.TextField(blank=True)
    raw_answers = models.JSONField(default=list, help_text="each sample's answer as received")
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(
                        kind="candidate",
                        candidate__isnull=False,
                        pair__isnull=True,
                        order="",
                        response_mode__isnull=False,
                        severity__isnull=False,
                        helpfulness__isnull=False,
                        preference__isnull=True,
                    )
                    | models.Q(
                        kind="pair",
                        candidate__isnull=True,
                        pair__isnull=False,
                        order__in=("ab", "ba"),
                        response_mode__isnull=True,
                        severity__isnull=True,
                        helpfulness__isnull=True,
                        preference__isnull=False,
                    )
                ),
                name="grade_kind_fields",
            ),
            models.CheckConstraint(
                condition=models.Q(helpfulness__isnull=True)
                | models.Q(helpfulness__gte=HELPFULNESS_MIN, helpfulness__lte=HELPFULNESS_MAX),
                name="grade_helpfulness_range",
            ),
            models.CheckConstraint(
                condition=models.Q(preference__isnull=True)
                | models.Q(preference__gte=PREFERENCE_MIN, preference__lte=PREFERENCE_MAX),
                name="grade_preference_range",
            ),
            models.CheckConstraint(
                condition=models.Q(confidence__gte=0, confidence__lte=1),
                name="grade_confidence_range",
            ),
            models.UniqueConstraint(
                fields=("grader_version", "candidate"),
                condition=models.Q(kind="candidate"),
                name="grade_unique_candidate",
            ),
            models.UniqueConstraint(
                fields=("grader_version", "pair", "order"),
                condition=models.Q(kind="pair"),
                name="grade_unique_pair_order",
            ),
        ]

    def __str__(self) -> str:
        item = f"candidate {self.candidate_id}" if self.candidate_id else f"pair {self.pair_id}"
        return f"grade of {item} by grader version {self.grader_version_id}"


class GradingRun(PlannedRun):
    """One request for grades: a grader version over a campaign's candidates and/or pairs,
    planned as :class:`GradingTask` rows."""

    campaign = models.ForeignKey(
        "labeling.Campaign", on_delete=models.CASCADE, related_name="grading_runs"
    )
    grader_version = models.ForeignKey(GraderVersion, on_delete=models.PROTECT, related_name="runs")
    candidates = models.BooleanField(default=True, help_text="grade each candidate")
    pairs = models.BooleanField(default=True, help_text="grade each pair, in both orders")
    limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="only the campaign's first N candidates and N pairs"
    )
    regrade_of = models.ForeignKey(
        GraderVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="a re-grade: only the items (and pair orders) this version graded in the "
        "campaign",
    )
    graded = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(candidates=True) | models.Q(pairs=True),
                name="grading_run_grades_something",
            ),
        ]

    def __str__(self) -> str:
        return f"grading run {self.pk}"


class GradingTask(PlannedRow):
    """One planned grade: a candidate, or a pair in one order."""

    run = models.ForeignKey(GradingRun, on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(max_length=10, choices=Grade.Kind.choices)
    candidate = models.ForeignKey(
        "labeling.Candidate", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    pair = models.ForeignKey(
        "labeling.Pair", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    order = models.CharField(
        max_length=2, choices=Grade.Order.choices, blank=True, help_text="pairs only"
    )

    class Meta:
        indexes = [
            models.Index(fields=("run", "status")),
            models.Index(fields=("status", "lease_until")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    kind="candidate", candidate__isnull=False, pair__isnull=True, order=""
                )
                | models.Q(
                    kind="pair", candidate__isnull=True, pair__isnull=False, order__in=("ab", "ba")
                ),
                name="grading_task_kind_item",
            ),
        ]


class CalibrationSnapshot(models.Model):
    """A campaign's calibration figures as a worker last computed them.

    A large campaign's figures take longer to compute than a page may take to answer, so its
    calibration page reads them from here, saying when they were computed; a small campaign's
    are computed in the request (``labeling.grading.calibration``)."""

    campaign = models.OneToOneField(
        "labeling.Campaign", on_delete=models.CASCADE, related_name="calibration_snapshot"
    )
    figures = models.JSONField(default=dict, help_text="what the page and the API show")
    computed_at = models.DateTimeField(null=True, blank=True)
    compute_seconds = models.FloatField(default=0.0)
    requested_at = models.DateTimeField(
        null=True, blank=True, help_text="a recomputation asked for and not yet finished"
    )

    def __str__(self) -> str:
        return f"calibration of campaign {self.campaign_id} at {self.computed_at}"

    @property
    def refreshing(self) -> bool:
        return self.requested_at is not None and (
            self.computed_at is None or self.requested_at > self.computed_at
        )
