from __future__ import annotations

from django.conf import settings
from django.db import models


class Review(models.Model):
    """A reviewer's resolution of a pair: final labels and preference, or discard."""

    class Resolution(models.TextChoices):
        LABELS = "labels", "Final labels"
        DISCARD = "discard", "Discard pair"

    pair = models.OneToOneField("labeling.Pair", on_delete=models.CASCADE, related_name="review")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    resolution = models.CharField(max_length=10, choices=Resolution.choices)
    final_labels = models.JSONField(
        null=True,
        blank=True,
        help_text='{"a": {"response_mode", "severity", "helpfulness"}, "b": {...}, "preference"}',
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class ReviewRequest(models.Model):
    """A pair sent to the reviewers' queue on purpose, with the reason that names why (e.g. a
    label that a re-grade under a newer policy version flipped).

    One request per pair and ``key`` (what sent it), so sending the same thing twice adds
    nothing. The pair stays in the queue until a review newer than the request resolves it.
    """

    class Source(models.TextChoices):
        REGRADE = "regrade", "Policy re-grade"
        CONSENSUS = "consensus", "Likely label error"
        BROWSER = "browser", "Data browser"

    pair = models.ForeignKey(
        "labeling.Pair", on_delete=models.CASCADE, related_name="review_requests"
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    key = models.CharField(
        max_length=100, help_text="what sent it, e.g. regrade:<old version id>:<new version id>"
    )
    reason = models.TextField()
    score = models.FloatField(
        null=True, blank=True, help_text="how sure the sender is; the queue ranks by it"
    )
    evidence = models.JSONField(
        default=dict, blank=True, help_text="what the sender saw, e.g. rater, field, confidence"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("created_at", "id")
        constraints = [
            models.UniqueConstraint(fields=("pair", "key"), name="review_request_unique_key"),
        ]
        indexes = [models.Index(fields=("key",), name="review_request_key")]

    def __str__(self) -> str:
        return f"review request of pair {self.pair_id}: {self.reason}"


class ConsensusRun(models.Model):
    """A campaign's consensus labels and rater reliabilities as one computation left them
    (``labeling/quality/consensus.py``).

    ``summary`` holds what the pages show (per field: items, raters with their reliability,
    agreement with the majority vote, flagged items, or the reason nothing was computed);
    ``labels`` the consensus of every item, read by exports that choose consensus labels and
    deferred everywhere else.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    campaign = models.ForeignKey(
        "labeling.Campaign", on_delete=models.CASCADE, related_name="consensus_runs"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    compute_seconds = models.FloatField(default=0.0)
    summary = models.JSONField(default=dict, blank=True)
    labels = models.JSONField(
        default=dict,
        blank=True,
        help_text="field -> {item id: [consensus, quality, majority]}; items are candidates, "
        "pairs for the preference",
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=("campaign", "status", "-computed_at"))]

    def __str__(self) -> str:
        return f"consensus run {self.pk} of campaign {self.campaign_id}"


class DashboardRatingCount(models.Model):
    """How many side ratings of a campaign fall in one cell of the safety and modes dashboards.

    Kept current by PostgreSQL triggers in the transaction of every judgment write (see
    ``labeling/quality/aggregates.py``), so a dashboard sums a few thousand cells instead of
    scanning a million judgments. The dimensions are those of the dashboards: the prompt's
    category and intent, the candidate's style and model (its source when it has none), and the
    side's response mode, severity and helpfulness.
    """

    # No foreign-key constraint: deleting a campaign deletes its judgments first, and their
    # triggers write here until the campaign's own row goes, whose trigger removes these rows.
    campaign = models.ForeignKey(
        "labeling.Campaign",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    category_path = models.CharField(max_length=255)
    intent = models.CharField(max_length=10)
    style = models.CharField(max_length=100)
    model = models.CharField(max_length=200)
    response_mode = models.CharField(max_length=30)
    severity = models.CharField(max_length=12)
    helpfulness = models.PositiveSmallIntegerField()
    ratings = models.IntegerField(db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=(
                    "campaign",
                    "category_path",
                    "intent",
                    "style",
                    "model",
                    "response_mode",
                    "severity",
                    "helpfulness",
                ),
                name="dashboard_rating_count_unique",
            ),
        ]


class DashboardAnnotatorTotal(models.Model):
    """One annotator's sums in one campaign, for the annotators dashboard.

    Kept current by the same triggers as ``DashboardRatingCount``: judgments, time on task,
    position bias (left wins among decided judgments), gold judgments and how many passed, and
    agreement with peers (ordered couples of judgments of the same pair by two annotators).
    """

    # No foreign-key constraint: deleting a campaign deletes its judgments first, and their
    # triggers write here until the campaign's own row goes, whose trigger removes these rows.
    campaign = models.ForeignKey(
        "labeling.Campaign",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    judgments = models.IntegerField(db_default=0)
    time_on_task_total_ms = models.BigIntegerField(db_default=0)
    time_on_task_judgments = models.IntegerField(db_default=0)
    left_wins = models.IntegerField(db_default=0)
    decided = models.IntegerField(db_default=0)
    gold_judgments = models.IntegerField(db_default=0)
    gold_passed = models.IntegerField(db_default=0)
    peer_couples = models.IntegerField(db_default=0)
    peer_same_direction = models.IntegerField(db_default=0)
    peer_same_severity = models.IntegerField(db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("campaign", "annotator"), name="dashboard_annotator_total_unique"
            ),
        ]


class DashboardAnnotatorHour(models.Model):
    """How many judgments an annotator made in one campaign within one hour (UTC): the
    annotators dashboard counts the hours with any as active hours."""

    # No foreign-key constraint: deleting a campaign deletes its judgments first, and their
    # triggers write here until the campaign's own row goes, whose trigger removes these rows.
    campaign = models.ForeignKey(
        "labeling.Campaign",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    hour = models.DateTimeField()
    judgments = models.IntegerField(db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("campaign", "annotator", "hour"), name="dashboard_annotator_hour_unique"
            ),
        ]


class DashboardTimeOnTask(models.Model):
    """How many of an annotator's judgments in one campaign took exactly ``time_on_task_ms``.

    With ``DashboardTimeOnTaskSecond`` it gives the exact median time on task without sorting
    every judgment: the seconds locate the middle, these rows give its exact value.
    """

    # No foreign-key constraint: deleting a campaign deletes its judgments first, and their
    # triggers write here until the campaign's own row goes, whose trigger removes these rows.
    campaign = models.ForeignKey(
        "labeling.Campaign",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    time_on_task_ms = models.PositiveIntegerField()
    judgments = models.IntegerField(db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("campaign", "annotator", "time_on_task_ms"),
                name="dashboard_time_on_task_unique",
            ),
        ]


class DashboardTimeOnTaskSecond(models.Model):
    """How many of an annotator's judgments in one campaign took ``second`` whole seconds."""

    # No foreign-key constraint: deleting a campaign deletes its judgments first, and their
    # triggers write here until the campaign's own row goes, whose trigger removes these rows.
    campaign = models.ForeignKey(
        "labeling.Campaign",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    second = models.PositiveIntegerField()
    judgments = models.IntegerField(db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("campaign", "annotator", "second"),
                name="dashboard_time_on_task_second_unique",
            ),
        ]
