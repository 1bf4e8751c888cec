"""Grader versions: edited in place until they grade, frozen after; grade storage; the
command."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from labeling.grading.services import grader_update
from labeling.grading.templates import DEFAULT_CANDIDATE_TEMPLATE, DEFAULT_PAIR_TEMPLATE
from labeling.models import Candidate, Grade, Grader, GraderVersion, Pair
from policy.models import PolicyVersion
from tests.labeling.grading.conftest import add_grade


def test_a_version_without_grades_is_edited_in_place(grader_version, personas) -> None:
    update = grader_update(
        grader=grader_version.grader,
        changes={"temperature": 0.2, "samples": 5, "description": "Sharper."},
        user=personas["rita"],
    )
    assert not update.is_new_version
    assert update.version.pk == grader_version.pk
    assert list(GraderVersion.objects.values_list("number", "temperature", "samples")) == [
        (1, 0.2, 5)
    ]
    assert Grader.objects.get().description == "Sharper."


def test_a_version_with_a_grade_is_frozen_and_an_edit_makes_version_2(
    grader_version, campaign_with_pairs, personas
) -> None:
    add_grade(grader_version, Candidate.objects.first())
    update = grader_update(
        grader=grader_version.grader,
        changes={"temperature": 0.2, "candidate_template": "{conversation}\n---\n{response}"},
        user=personas["rita"],
    )
    assert update.is_new_version
    assert update.version.number == 2
    assert update.version.created_by == personas["rita"]
    old, new = GraderVersion.objects.order_by("number")
    assert (old.temperature, old.candidate_template) == (0.7, DEFAULT_CANDIDATE_TEMPLATE)
    assert (new.temperature, new.candidate_template) == (0.2, "{conversation}\n---\n{response}")
    # What was not changed is carried over.
    assert (new.samples, new.seed, new.endpoint, new.policy_version, new.pair_template) == (
        3,
        5,
        old.endpoint,
        old.policy_version,
        DEFAULT_PAIR_TEMPLATE,
    )
    # Version 2 has graded nothing: the next edit changes it in place.
    again = grader_update(grader=grader_version.grader, changes={"seed": 9})
    assert (again.is_new_version, again.version.number, GraderVersion.objects.count()) == (
        False,
        2,
        2,
    )


def test_an_edit_that_changes_nothing_makes_no_version(grader_version, campaign_with_pairs):
    add_grade(grader_version, Candidate.objects.first())
    update = grader_update(grader=grader_version.grader, changes={"temperature": 0.7, "samples": 3})
    assert (update.is_new_version, GraderVersion.objects.count()) == (False, 1)


def test_grader_create_command(grading_endpoint, policy_version, tmp_path, capsys) -> None:
    call_command("grader_create", "cmd-judge", "--endpoint", "offline", "--samples", "4")
    template = tmp_path / "candidate.txt"
    template.write_text("Conversation:\n{conversation}\nResponse:\n{response}\n")
    call_command(
        "grader_create",
        "custom-judge",
        "--endpoint",
        "offline",
        "--policy-version",
        str(policy_version.number),
        "--temperature",
        "0.3",
        "--template",
        str(template),
    )
    out = capsys.readouterr().out.splitlines()
    latest = PolicyVersion.objects.order_by("-number").first().number
    assert out == [
        f"Grader cmd-judge created: version 1, endpoint offline (model graylab-offline), "
        f"policy version {latest}, 4 sample(s) at temperature 0.",
        f"Grader custom-judge created: version 1, endpoint offline (model graylab-offline), "
        f"policy version {policy_version.number}, 1 sample(s) at temperature 0.3.",
    ]
    custom = GraderVersion.objects.get(grader__name="custom-judge")
    assert custom.candidate_template == template.read_text()
    assert custom.pair_template == DEFAULT_PAIR_TEMPLATE


def test_grader_create_command_refuses_bad_input(grading_endpoint, tmp_path) -> None:
    template = tmp_path / "bad.txt"
    template.write_text("Grade {response} for {user_name}")
    with pytest.raises(CommandError) as caught:
        call_command("grader_create", "bad", "--endpoint", "offline", "--template", str(template))
    assert str(caught.value).startswith("candidate_template: Unknown placeholder {user_name};")
    assert "The template must contain {conversation}." in str(caught.value)
    with pytest.raises(CommandError, match="No endpoint is named 'nowhere'"):
        call_command("grader_create", "bad", "--endpoint", "nowhere")
    with pytest.raises(CommandError, match="No policy version 99 is published"):
        call_command("grader_create", "bad", "--endpoint", "offline", "--policy-version", "99")
    with pytest.raises(CommandError, match="samples: must be between 1 and 16"):
        call_command("grader_create", "bad", "--endpoint", "offline", "--samples", "17")
    assert not Grader.objects.exists()


def test_grade_rows_hold_exactly_their_kinds_fields(grader_version, campaign_with_pairs) -> None:
    candidate = Candidate.objects.first()
    pair = Pair.objects.first()
    add_grade(grader_version, candidate)
    common = {"grader_version": grader_version, "confidence": 1.0, "raw_answers": ["{}"]}
    pair_grade = {**common, "kind": "pair", "pair": pair, "preference": -1}
    Grade.objects.create(**pair_grade, order="ab")
    Grade.objects.create(**pair_grade, order="ba")
    refused = [
        # a second grade of the same candidate by the same version
        {**common, "kind": "candidate", "candidate": candidate, "response_mode": "other",
         "severity": "none", "helpfulness": 1},
        # the same pair in the same order again
        {**pair_grade, "order": "ab"},
        # a pair grade without its order, or with a candidate's fields
        {**pair_grade, "order": ""},
        {**pair_grade, "order": "ba", "severity": "low"},
        # a candidate grade naming a pair too, or missing a rated field
        {**common, "kind": "candidate", "candidate": candidate, "pair": pair,
         "response_mode": "other", "severity": "none", "helpfulness": 1},
        {**common, "kind": "candidate", "candidate": Candidate.objects.last(),
         "response_mode": "other", "severity": "none"},
        # values outside the rubric's scales
        {**pair_grade, "pair": Pair.objects.last(), "order": "ab", "preference": 3},
        {**common, "kind": "candidate", "candidate": Candidate.objects.last(),
         "response_mode": "other", "severity": "none", "helpfulness": 1, "confidence": 1.5},
    ]  # fmt: skip
    for values in refused:
        with pytest.raises(IntegrityError), transaction.atomic():
            Grade.objects.create(**values)
    assert Grade.objects.count() == 3
