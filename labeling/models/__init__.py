"""Labeling data model, one module per area; import models from ``labeling.models``."""

from .annotation import Assignment, Judgment, JudgmentRevision, Skip
from .browser import CandidateValue, ExportExclusion
from .campaigns import Campaign, Prompt, PromptChange
from .candidates import Candidate, Pair
from .generation import GenerationRun, GenerationTask, ModelEndpoint
from .grading import (
    CalibrationSnapshot,
    Grade,
    Grader,
    GraderVersion,
    GradingRun,
    GradingTask,
)
from .imports import ImportJob
from .quality import (
    ConsensusRun,
    DashboardAnnotatorHour,
    DashboardAnnotatorTotal,
    DashboardRatingCount,
    DashboardTimeOnTask,
    DashboardTimeOnTaskSecond,
    Review,
    ReviewRequest,
)

__all__ = [
    "Assignment",
    "CalibrationSnapshot",
    "Campaign",
    "Candidate",
    "CandidateValue",
    "ConsensusRun",
    "DashboardAnnotatorHour",
    "DashboardAnnotatorTotal",
    "DashboardRatingCount",
    "DashboardTimeOnTask",
    "DashboardTimeOnTaskSecond",
    "ExportExclusion",
    "GenerationRun",
    "GenerationTask",
    "Grade",
    "Grader",
    "GraderVersion",
    "GradingRun",
    "GradingTask",
    "ImportJob",
    "Judgment",
    "JudgmentRevision",
    "ModelEndpoint",
    "Pair",
    "Prompt",
    "PromptChange",
    "Review",
    "ReviewRequest",
    "Skip",
]
