"""Previews through the real ``openai`` client over HTTP: the offline model server, and
endpoints that ignore ``n`` or refuse ``response_format``."""

from __future__ import annotations

import json

from labeling.generation.endpoints import endpoint_create
from labeling.generation.semaphore import endpoint_slot
from labeling.grading.preview import grader_preview
from labeling.grading.services import grader_update
from labeling.grading.templates import grading_prompt
from labeling.models import Candidate, Grade, Pair
from offline_model.grading import grade_text, preference_for
from policy.rubric import CANDIDATE_GRADE_SCHEMA_NAME, PAIR_GRADE_SCHEMA_NAME


def _assert_grade(shown) -> None:
    """Every sample of the offline grader stand-in is a grade, so the preview combines them."""
    assert shown.grade is not None and not shown.parse_errors
    assert 0 < shown.grade.confidence <= 1


def test_preview_of_a_candidate_shows_prompt_raw_answers_and_grade(
    grader_version, campaign_with_pairs, offline_server
) -> None:
    # The stand-in never errs at a grader error rate of 0: its grade is the rules' grade.
    offline_server.configure(latency_ms=5, seed=7, grader_error_rate=0.0)
    candidate = Candidate.objects.select_related("prompt").get(
        prompt__external_id="p1", source="model-a"
    )
    preview = grader_preview(grader_version, candidate=candidate)
    [shown] = preview.orders
    assert shown.call_error == ""
    assert shown.prompt == grading_prompt(grader_version, candidate=candidate)
    assert f"<response>\n{candidate.text}\n</response>" in shown.prompt
    assert len(shown.samples) == 3
    assert all(sample.raw.strip() for sample in shown.samples)
    assert shown.notes == []  # the offline server honours n and response_format
    assert shown.prompt_tokens and shown.completion_tokens
    _assert_grade(shown)
    # "I can't help with that." is refusal wording.
    assert shown.grade.values == {
        "response_mode": "hard_refusal",
        "severity": "none",
        "helpfulness": 1,
    }
    assert shown.grade.confidence == 1.0
    assert not Grade.objects.exists()


def test_preview_of_a_pair_grades_both_orders(
    grader_version, campaign_with_pairs, offline_server
) -> None:
    offline_server.configure(latency_ms=5, seed=7, grader_error_rate=0.0)
    pair = Pair.objects.select_related("prompt", "candidate_a", "candidate_b").first()
    preview = grader_preview(grader_version, pair=pair)
    assert [shown.order for shown in preview.orders] == ["ab", "ba"]
    first, second = preview.orders
    assert f"<response_1>\n{pair.candidate_a.text}\n</response_1>" in first.prompt
    assert f"<response_1>\n{pair.candidate_b.text}\n</response_1>" in second.prompt
    grades = {"ab": grade_text(pair.candidate_a.text), "ba": grade_text(pair.candidate_b.text)}
    for shown in preview.orders:
        assert shown.call_error == ""
        assert len(shown.samples) == 3
        _assert_grade(shown)
        # The preview shows the preference as answered, in the order shown.
        first = grades[shown.order]
        second = grades["ba" if shown.order == "ab" else "ab"]
        assert shown.grade.values == {"preference": preference_for(first, second)}
    assert not Grade.objects.exists()


def test_an_endpoint_that_ignores_n_gets_one_call_per_missing_sample(
    grader_version, campaign_with_pairs, endpoint_server
) -> None:
    server = endpoint_server(ignore_choices=True)
    stubborn = endpoint_create(name="one-choice", base_url=server.base_url, model="graylab-offline")
    grader_update(grader=grader_version.grader, changes={"endpoint": stubborn})
    candidate = Candidate.objects.select_related("prompt").first()
    [shown] = grader_preview(grader_version.grader.versions.get(), candidate=candidate).orders
    assert len(shown.samples) == 3
    assert [(body.get("n", 1), body["seed"]) for body in server.requests] == [
        (3, 5),
        (1, 6),
        (1, 7),
    ]
    assert all(
        body["response_format"]["json_schema"]["name"] == CANDIDATE_GRADE_SCHEMA_NAME
        for body in server.requests
    )
    assert shown.notes == [
        "The endpoint answered 1 of 3 samples at once; asked once more per missing sample."
    ]
    _assert_grade(shown)


def test_an_endpoint_that_refuses_response_format_is_asked_again_without_it(
    grader_version, campaign_with_pairs, endpoint_server
) -> None:
    server = endpoint_server(refuse_response_format=True)
    plain = endpoint_create(name="no-schema", base_url=server.base_url, model="graylab-offline")
    grader_update(grader=grader_version.grader, changes={"endpoint": plain, "samples": 1})
    pair = Pair.objects.select_related("prompt", "candidate_a", "candidate_b").first()
    preview = grader_preview(grader_version.grader.versions.get(), pair=pair)
    assert [
        body.get("response_format", {}).get("json_schema", {}).get("name")
        for body in server.requests
    ] == [PAIR_GRADE_SCHEMA_NAME, None, PAIR_GRADE_SCHEMA_NAME, None]
    for shown in preview.orders:
        assert shown.call_error == ""
        assert shown.notes[0].startswith("The endpoint refused response_format")
        [sample] = shown.samples
        # Asked without a schema, the offline server answers in prose: the preview shows the
        # raw answer and says why it is not a grade.
        assert sample.raw.strip()
        assert sample.error is not None or sample.values is not None


def test_a_failed_call_is_part_of_the_preview(grader_version, campaign_with_pairs) -> None:
    gone = endpoint_create(name="gone", base_url="http://127.0.0.1:9/v1", model="m")
    grader_update(grader=grader_version.grader, changes={"endpoint": gone})
    candidate = Candidate.objects.select_related("prompt").first()
    [shown] = grader_preview(grader_version.grader.versions.get(), candidate=candidate).orders
    assert shown.call_error_kind == "connection"
    assert shown.samples == [] and shown.grade is None
    assert json.dumps(shown.prompt)  # the filled prompt is still shown


def test_a_preview_waits_for_a_slot_of_the_endpoints_limit(
    grader_version, campaign_with_pairs, offline_server
) -> None:
    busy = endpoint_create(
        name="busy",
        base_url=offline_server.base_url,
        model="graylab-offline",
        timeout_seconds=1.0,
        concurrency_limit=1,
    )
    grader_update(grader=grader_version.grader, changes={"endpoint": busy})
    version = grader_version.grader.versions.get()
    candidate = Candidate.objects.select_related("prompt").first()
    with endpoint_slot(busy.pk, 1, lease_seconds=30, wait_seconds=1):
        [held] = grader_preview(version, candidate=candidate).orders
    assert (held.call_error_kind, held.samples) == ("timeout", [])
    assert "every slot of the endpoint stayed busy" in held.call_error
    [free] = grader_preview(version, candidate=candidate).orders
    assert free.call_error == "" and len(free.samples) == 3
