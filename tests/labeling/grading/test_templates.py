"""Grader templates: the checks on save and the filling from the pinned policy version."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from labeling.grading.services import grader_create, grader_update
from labeling.grading.templates import (
    DEFAULT_CANDIDATE_TEMPLATE,
    DEFAULT_PAIR_TEMPLATE,
    GradingItemError,
    grading_prompt,
    template_problems,
)
from labeling.models import Candidate, Grader, GraderVersion, Pair, Prompt
from policy.defaults import DEFAULT_LEVELS
from policy.models import PolicyVersion
from policy.rubric import RESPONSE_MODES, SEVERITY_LEVELS


def test_the_default_templates_pass_their_own_checks() -> None:
    assert template_problems(DEFAULT_CANDIDATE_TEMPLATE, "candidate") == []
    assert template_problems(DEFAULT_PAIR_TEMPLATE, "pair") == []


def test_an_unknown_placeholder_is_named() -> None:
    problems = template_problems("{conversation} {response} {secret_key}", "candidate")
    assert problems == [
        "Unknown placeholder {secret_key}; the placeholders are {category}, "
        "{category_guidance}, {intent}, {severity_levels}, {severity_to_safety}, "
        "{response_modes}, {helpfulness_scale}, {conversation}, {response}."
    ]


def test_attribute_lookups_conversions_and_other_kinds_placeholders_are_unknown() -> None:
    text = "{conversation} {response} {response.__class__} {conversation!r} {response_1}"
    problems = template_problems(text, "candidate")
    assert [problem.split(";")[0] for problem in problems] == [
        "Unknown placeholder {response.__class__}",
        "Unknown placeholder {conversation!r}",
        "Unknown placeholder {response_1}",
    ]


def test_missing_conversation_and_responses_are_named() -> None:
    assert template_problems("Grade {response}", "candidate") == [
        "The template must contain {conversation}."
    ]
    assert template_problems("{conversation} {response_1}", "pair") == [
        "The template must contain {response_2}."
    ]


def test_a_lone_brace_is_malformed() -> None:
    [problem] = template_problems("{conversation} {response} {", "candidate")
    assert problem.startswith("The template is malformed")


def test_a_bad_template_is_refused_on_create_and_nothing_is_stored(
    grading_endpoint, policy_version
) -> None:
    with pytest.raises(ValidationError) as caught:
        grader_create(
            name="bad-judge",
            endpoint=grading_endpoint,
            policy_version=policy_version,
            candidate_template="Grade {response} under {policy_name}.",
        )
    errors = caught.value.message_dict
    assert set(errors) == {"candidate_template"}
    assert "Unknown placeholder {policy_name}" in errors["candidate_template"][0]
    assert "The template must contain {conversation}." in errors["candidate_template"]
    assert not Grader.objects.exists()
    assert not GraderVersion.objects.exists()


def test_a_bad_template_is_refused_on_edit_and_nothing_changes(grader_version) -> None:
    with pytest.raises(ValidationError) as caught:
        grader_update(
            grader=grader_version.grader,
            changes={"pair_template": "{response_1} {response_2}", "temperature": 1.5},
        )
    assert caught.value.message_dict == {
        "pair_template": ["The template must contain {conversation}."]
    }
    grader_version.refresh_from_db()
    assert grader_version.pair_template == DEFAULT_PAIR_TEMPLATE
    assert grader_version.temperature == 0.7
    assert GraderVersion.objects.count() == 1


def test_filling_a_candidate_prompt_reads_the_pinned_policy_version(
    grader_version, campaign_with_pairs
) -> None:
    candidate = Candidate.objects.select_related("prompt").get(
        prompt__external_id="p3", source="model-a"
    )
    prompt = grading_prompt(grader_version, candidate=candidate)
    guidance = {
        entry["path"]: entry for entry in grader_version.policy_version.snapshot["categories"]
    }["chemistry/dual-use"]["guidance"]
    assert "chemistry/dual-use" in prompt
    for level in SEVERITY_LEVELS:
        assert DEFAULT_LEVELS["severity"][level] in prompt
    for mode in RESPONSE_MODES:
        assert f"- {mode} (" in prompt
    assert guidance["high"] in prompt
    assert "- high: 0" in prompt and "- none: 1" in prompt
    assert (
        "<conversation>\nUser: Which household chemicals should never be mixed?\n</conversation>"
        in prompt
    )
    assert f"<response>\n{candidate.text}\n</response>" in prompt
    assert "{" in prompt and "{conversation}" not in prompt  # the JSON example's literal braces


def test_filling_a_pair_prompt_in_both_orders(grader_version, campaign_with_pairs) -> None:
    pair = Pair.objects.select_related("candidate_a", "candidate_b", "prompt").first()
    shown_ab = grading_prompt(grader_version, pair=pair, order="ab")
    shown_ba = grading_prompt(grader_version, pair=pair, order="ba")
    a, b = pair.candidate_a.text, pair.candidate_b.text
    assert f"<response_1>\n{a}\n</response_1>" in shown_ab
    assert f"<response_2>\n{b}\n</response_2>" in shown_ab
    assert f"<response_1>\n{b}\n</response_1>" in shown_ba
    assert f"<response_2>\n{a}\n</response_2>" in shown_ba
    assert "- -2: response 1 is much better" in shown_ab


def test_a_category_the_pinned_version_lacks_is_an_error_naming_item_and_category(
    grading_endpoint, campaign_with_pairs
) -> None:
    small = PolicyVersion.objects.create(
        number=PolicyVersion.objects.order_by("-number").first().number + 1,
        notes="a policy without chemistry",
        snapshot={
            **campaign_with_pairs.policy_version.snapshot,
            "categories": [
                entry
                for entry in campaign_with_pairs.policy_version.snapshot["categories"]
                if not entry["path"].startswith("chemistry")
            ],
        },
    )
    version = grader_create(name="narrow-judge", endpoint=grading_endpoint, policy_version=small)
    candidate = Candidate.objects.get(prompt__external_id="p3", source="model-b")
    with pytest.raises(GradingItemError) as caught:
        grading_prompt(version, candidate=candidate)
    assert caught.value.message == (
        f"candidate {candidate.pk}: category 'chemistry/dual-use' is not in policy version "
        f"{small.number}, the version this grader applies."
    )
    # Another category of the same version fills as usual.
    other = Candidate.objects.get(prompt__external_id="p2", source="model-b")
    assert "benign/general" in grading_prompt(version, candidate=other)
    assert Prompt.objects.filter(category_path="chemistry/dual-use").exists()
