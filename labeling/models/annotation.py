from __future__ import annotations

from django.conf import settings
from django.db import models

from policy.rubric import ResponseMode, Severity


class Assignment(models.Model):
    """A leased claim on one of a pair's k slots. Unique (pair, slot) caps the pair at k."""

    # No index of its own (every index costs each claim and submit): the unique constraints
    # lead with it. The same holds for the pair and annotator of a judgment and a skip.
    pair = models.ForeignKey(
        "labeling.Pair", on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    # Denormalised from pair.prompt.campaign so "my live lease in this campaign" is one index probe.
    campaign = models.ForeignKey(
        "labeling.Campaign", on_delete=models.CASCADE, related_name="assignments"
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    slot = models.PositiveSmallIntegerField()
    left_is_a = models.BooleanField(help_text="the order shown: candidate A on the left")
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    draft = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("pair", "slot"), name="assignment_unique_slot"),
            models.UniqueConstraint(
                fields=("pair", "annotator"), name="assignment_unique_annotator"
            ),
            # k is at most 16 (campaign_k_range), so a slot number is always below 16.
            models.CheckConstraint(condition=models.Q(slot__lt=16), name="assignment_slot_range"),
        ]
        indexes = [
            models.Index(
                fields=("annotator", "campaign"),
                condition=models.Q(completed_at__isnull=True),
                name="assignment_open_by_annotator",
            ),
            # A campaign's live leases, which a claim under a human budget counts.
            models.Index(
                fields=("campaign", "expires_at"),
                condition=models.Q(completed_at__isnull=True),
                name="assignment_open_by_campaign",
            ),
        ]

    @property
    def is_completed(self) -> bool:
        return self.completed_at is not None


class Judgment(models.Model):
    """One annotator's ratings of one pair, in canonical order (A, B)."""

    pair = models.ForeignKey(
        "labeling.Pair", on_delete=models.CASCADE, related_name="judgments", db_index=False
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="judgments",
        db_index=False,  # the (annotator, created_at) index leads with it
    )
    # PROTECT: the assignment holds the judgment's slot, so deleting it would let a pair
    # collect more than k judgments.
    assignment = models.OneToOneField(
        Assignment, null=True, blank=True, on_delete=models.PROTECT, related_name="judgment"
    )
    policy_version = models.ForeignKey("policy.PolicyVersion", on_delete=models.PROTECT)
    a_response_mode = models.CharField(max_length=30, choices=ResponseMode.choices)
    a_severity = models.CharField(max_length=12, choices=Severity.choices)
    a_helpfulness = models.PositiveSmallIntegerField()
    b_response_mode = models.CharField(max_length=30, choices=ResponseMode.choices)
    b_severity = models.CharField(max_length=12, choices=Severity.choices)
    b_helpfulness = models.PositiveSmallIntegerField()
    preference = models.SmallIntegerField(help_text="-2 A much better .. +2 B much better")
    rationale = models.TextField(blank=True)
    flags = models.JSONField(default=list, blank=True)
    flag_note = models.TextField(blank=True)
    left_is_a = models.BooleanField(help_text="the order shown: candidate A on the left")
    time_on_task_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(fields=("pair", "annotator"), name="judgment_unique"),
            models.CheckConstraint(
                condition=models.Q(preference__gte=-2, preference__lte=2),
                name="judgment_preference_range",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    a_helpfulness__gte=1,
                    a_helpfulness__lte=4,
                    b_helpfulness__gte=1,
                    b_helpfulness__lte=4,
                ),
                name="judgment_helpfulness_range",
            ),
        ]
        indexes = [models.Index(fields=("annotator", "created_at"))]


class JudgmentRevision(models.Model):
    """The previous values of a judgment each time its annotator edits it."""

    judgment = models.ForeignKey(Judgment, on_delete=models.CASCADE, related_name="revisions")
    values = models.JSONField()
    revised_at = models.DateTimeField(auto_now_add=True)


class Skip(models.Model):
    """An annotator passed on a pair: it is never offered to them again."""

    pair = models.ForeignKey(
        "labeling.Pair", on_delete=models.CASCADE, related_name="skips", db_index=False
    )
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    reason = models.TextField(blank=True)
    flags = models.JSONField(default=list, blank=True, help_text="problems flagged when skipping")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("pair", "annotator"), name="skip_unique"),
        ]
