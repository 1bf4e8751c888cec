from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from policy.rubric import Intent


class Campaign(models.Model):
    """A body of prompts judged under one pinned policy version."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    class PairStrategy(models.TextChoices):
        CROSS_SOURCE = "cross_source", "Every pair from different sources or styles"
        ALL = "all", "Every pair of candidates"

    class Routing(models.TextChoices):
        UNIFORM = "uniform", "Uniform: pairs closest to completion first, then the oldest"
        GRADER_FIRST = "grader-first", "Grader first: where the grader is least sure first"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    policy_version = models.ForeignKey("policy.PolicyVersion", on_delete=models.PROTECT)
    instructions = models.TextField(blank=True, help_text="Markdown shown to annotators")
    judgments_per_pair = models.PositiveSmallIntegerField(default=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    open_to_all_annotators = models.BooleanField(
        default=True, help_text="Every annotator may work here, not only the listed members"
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="campaigns")
    lease_minutes = models.PositiveSmallIntegerField(default=30)
    daily_cap = models.PositiveIntegerField(null=True, blank=True)
    gold_rate = models.FloatField(default=0.0, help_text="Share of served pairs that are gold")
    gold_accuracy_threshold = models.FloatField(default=0.8)
    show_gold_score = models.BooleanField(
        default=False,
        help_text="Show each annotator their own gold score on the pair page",
    )
    pair_strategy = models.CharField(
        max_length=20, choices=PairStrategy.choices, default=PairStrategy.CROSS_SOURCE
    )
    max_pairs_per_prompt = models.PositiveSmallIntegerField(default=10)
    # How pairs reach annotators (labeling/routing/): the order of the claim and which pairs
    # are accepted as AI labels. The figures behind it are stored on each pair.
    routing = models.CharField(max_length=20, choices=Routing.choices, default=Routing.UNIFORM)
    routing_grader = models.ForeignKey(
        "labeling.Grader",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="grader-first: the grader whose newest version with pair grades orders the work",
    )
    human_budget = models.PositiveIntegerField(
        null=True, blank=True, help_text="the most human judgments this campaign collects"
    )
    accept_confidence = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=(
            "grader-first: accept a pair's grade as its AI label when every sample-agreement "
            "share is at least this (empty: accept nothing)"
        ),
    )
    accept_consistency = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="… and when the two orders' preferences agree at least this much (1 = equal)",
    )
    spot_check_share = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="share of the accepted pairs still sent to humans",
    )
    routed_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="when the pairs' ranks were computed"
    )
    routed_version = models.ForeignKey(
        "labeling.GraderVersion",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="the grader version whose grades the ranks come from",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(judgments_per_pair__gte=1, judgments_per_pair__lte=16),
                name="campaign_k_range",
            ),
            models.CheckConstraint(
                condition=models.Q(gold_rate__gte=0, gold_rate__lte=1),
                name="campaign_gold_rate_range",
            ),
            models.CheckConstraint(
                condition=models.Q(routing="uniform")
                | models.Q(routing="grader-first", routing_grader__isnull=False),
                name="campaign_routing_grader",
            ),
            models.CheckConstraint(
                condition=models.Q(accept_confidence__isnull=True)
                | models.Q(accept_confidence__gte=0, accept_confidence__lte=1),
                name="campaign_accept_confidence_range",
            ),
            models.CheckConstraint(
                condition=models.Q(accept_consistency__gte=0, accept_consistency__lte=1),
                name="campaign_accept_consistency_range",
            ),
            models.CheckConstraint(
                condition=models.Q(spot_check_share__gte=0, spot_check_share__lte=1),
                name="campaign_spot_check_share_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.routing == self.Routing.GRADER_FIRST and self.routing_grader_id is None:
            raise ValidationError(
                {"routing_grader": "Grader-first routing needs a grader to route by."}
            )


class Prompt(models.Model):
    """One request (a single turn or a whole conversation ending with a user turn)."""

    # No index of its own: the unique constraints and the category index lead with it.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="prompts", db_index=False
    )
    messages = models.JSONField(help_text='[{"role": "user", "content": "..."}]')
    category_path = models.CharField(max_length=255)
    intent = models.CharField(max_length=10, choices=Intent.choices)
    external_id = models.CharField(max_length=200, null=True, blank=True)
    content_hash = models.CharField(max_length=64, help_text="sha256 of the normalised messages")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(
                fields=("campaign", "content_hash"), name="prompt_unique_content"
            ),
            models.UniqueConstraint(
                fields=("campaign", "external_id"),
                condition=models.Q(external_id__isnull=False),
                name="prompt_unique_external_id",
            ),
        ]
        indexes = [models.Index(fields=("campaign", "category_path", "intent"))]

    def __str__(self) -> str:
        return self.external_id or f"prompt {self.pk}"


class PromptChange(models.Model):
    """History of corrections to a prompt's category or intent (by reviewers)."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="changes")
    field = models.CharField(max_length=20)
    old_value = models.CharField(max_length=255)
    new_value = models.CharField(max_length=255)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ("-changed_at",)
