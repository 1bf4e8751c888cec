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


class GradingRun(models.Model):
    """One request for grades: a grader version over a campaign's candidates and/or pairs.

    The run's items are planned as :class:`GradingTask` rows; the counters add up what the
    workers stored, so the run page reads one row.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

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
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    planned = models.PositiveIntegerField(default=0)
    graded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    swept_at = models.DateTimeField(
        null=True, blank=True, help_text="when a sweep last sent this run's stalled work again"
    )

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

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class GradingTask(models.Model):
    """One planned grade: a candidate, or a pair in one order. The database, not the broker,
    is the record of what a run has left to grade."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

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
    idempotency_key = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="while running: the claim expires at this time"
    )
    available_at = models.DateTimeField(
        null=True, blank=True, help_text="while pending: not to be tried before (retry backoff)"
    )
    error_kind = models.CharField(max_length=40, blank=True)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

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
