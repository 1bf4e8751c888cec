"""Re-grading after a policy change: the re-grade version and its runs, the impact report on a
planted change, sending flips to the review queue, roles, refusals, API and commands.

The report is about grades, so these tests plant the second version's grades; the runs that
grade them for real are in ``test_regrade_runs.py``."""

from __future__ import annotations

import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from labeling.grading import runs
from labeling.grading.impact import regrade_impact
from labeling.grading.regrade import grader_regrade, impact_send_to_review
from labeling.grading.services import grader_update
from labeling.models import (
    Candidate,
    Grade,
    GraderVersion,
    GradingRun,
    GradingTask,
    Pair,
    ReviewRequest,
)
from labeling.quality.review import review_queue, review_record
from policy.models import PolicyVersion

# Safe now also means negligible: a candidate rated negligible flips unsafe → safe.
WIDER_MAPPING = {"none": 1.0, "negligible": 1.0, "low": 0.5, "moderate": 0.2, "high": 0.0}


def publish(base: PolicyVersion, *, mapping=None, without: str | None = None) -> PolicyVersion:
    """A newer published version: ``base`` with another mapping and guidance, or without the
    categories under ``without``."""
    snapshot = json.loads(json.dumps(base.snapshot))
    if mapping is not None:
        snapshot["severity_to_safety"] = mapping
    for entry in snapshot["categories"]:
        if entry["path"] == "biology/low-risk-dual-use":
            entry["guidance"] = {"negligible": "General mechanisms are fine to explain."}
    if without:
        snapshot["categories"] = [
            entry for entry in snapshot["categories"] if not entry["path"].startswith(without)
        ]
    number = PolicyVersion.objects.order_by("-number").first().number + 1
    return PolicyVersion.objects.create(number=number, notes="planted change", snapshot=snapshot)


def candidate_grade(version, candidate, mode, severity, helpfulness):
    return Grade.objects.create(
        grader_version=version,
        kind="candidate",
        candidate=candidate,
        response_mode=mode,
        severity=severity,
        helpfulness=helpfulness,
        confidence=1.0,
        raw_answers=["{}"],
    )


def pair_grade(version, pair, order, preference):
    return Grade.objects.create(
        grader_version=version,
        kind="pair",
        pair=pair,
        order=order,
        preference=preference,
        confidence=1.0,
        raw_answers=["{}"],
    )


SAME = ("direct_answer", "none", 2)
# Candidate index -> (old grade, new grade); every other candidate is graded SAME by both.
PLANTED = {
    0: (("direct_answer", "negligible", 3), ("direct_answer", "negligible", 3)),
    1: (("direct_answer", "none", 4), ("direct_answer", "high", 4)),
    2: (("safe_completion", "low", 3), ("hard_refusal", "low", 1)),
    3: (("direct_answer", "moderate", 2), ("direct_answer", "low", 3)),
}
# Pair index -> ((old ab, old ba), (new ab, new ba)); every other pair is (1, 1) for both.
PLANTED_PAIRS = {0: ((-2, -2), (1, 2)), 1: ((1, 0), (1, 1)), 2: ((1, 1), (2, 2))}


@pytest.fixture
def old_grades(campaign_with_pairs, grader_version):
    """Version 1 grades every candidate but the last, and every pair in both orders."""
    candidates = list(Candidate.objects.filter(prompt__campaign=campaign_with_pairs).order_by("id"))
    pairs = list(Pair.objects.filter(campaign=campaign_with_pairs).order_by("id"))
    for index, candidate in enumerate(candidates[:-1]):
        candidate_grade(grader_version, candidate, *PLANTED.get(index, (SAME,))[0])
    for index, pair in enumerate(pairs[:-1]):
        for order, preference in zip(
            ("ab", "ba"), PLANTED_PAIRS.get(index, ((1, 1),))[0], strict=True
        ):
            pair_grade(grader_version, pair, order, preference)
    # The last pair: version 1 graded it in one order only.
    pair_grade(grader_version, pairs[-1], "ab", 1)
    return {"candidates": candidates, "pairs": pairs}


def plant_new_grades(new, old_grades):
    """The re-grade's grades: the planted flips; the last candidate is not graded (its run
    failed it), and the last pair gets its other order too."""
    candidates, pairs = old_grades["candidates"], old_grades["pairs"]
    for index, candidate in enumerate(candidates[:-2]):
        candidate_grade(new, candidate, *PLANTED.get(index, (None, SAME))[1])
    for index, pair in enumerate(pairs[:-1]):
        for order, preference in zip(
            ("ab", "ba"), PLANTED_PAIRS.get(index, (None, (1, 1)))[1], strict=True
        ):
            pair_grade(new, pair, order, preference)
    pair_grade(new, pairs[-1], "ab", 1)
    pair_grade(new, pairs[-1], "ba", 1)


def test_regrade_makes_one_version_and_reuses_it(grader_version, old_grades, personas):
    v2 = publish(grader_version.policy_version, mapping=WIDER_MAPPING)
    done = grader_regrade(grader=grader_version.grader, policy_version=v2.number)
    new = done.version
    assert done.version_created and done.source == grader_version
    assert (new.number, new.policy_version, new.regraded_from) == (2, v2, grader_version)
    for name in ("endpoint", "model", "temperature", "samples", "max_tokens", "seed"):
        assert getattr(new, name) == getattr(grader_version, name)
    assert new.candidate_template == grader_version.candidate_template
    assert new.pair_template == grader_version.pair_template
    [run] = done.started
    assert (run.grader_version, run.regrade_of, run.status) == (new, grader_version, "queued")

    # The run plans exactly what version 1 graded: 11 of 12 candidates, 11 pairs in both
    # orders and the last pair in its one graded order.
    runs.run_plan(run_id=run.pk)
    planned = set(
        GradingTask.objects.filter(run=run).values_list("kind", "candidate_id", "pair_id", "order")
    )
    graded = set(
        Grade.objects.filter(grader_version=grader_version).values_list(
            "kind", "candidate_id", "pair_id", "order"
        )
    )
    assert planned == graded and len(planned) == 11 + 2 * 11 + 1
    run.refresh_from_db()
    assert run.planned == len(planned)

    again = grader_regrade(grader=grader_version.grader, policy_version=v2.number)
    assert (again.version, again.source, again.version_created) == (new, grader_version, False)
    assert again.started == [] and again.runs == [run]
    assert GraderVersion.objects.count() == 2 and GradingRun.objects.count() == 1

    # A re-grade is frozen from the start: an edit makes the next version.
    update = grader_update(grader=grader_version.grader, changes={"samples": 1})
    assert update.is_new_version and update.version.number == 3


def test_a_finished_regrade_is_not_started_again(grader_version, old_grades):
    v2 = publish(grader_version.policy_version, mapping=WIDER_MAPPING)
    first = grader_regrade(grader=grader_version.grader, policy_version=v2.number)
    runs.run_plan(run_id=first.started[0].pk)
    GradingRun.objects.filter(pk=first.started[0].pk).update(status="completed")
    again = grader_regrade(grader=grader_version.grader, policy_version=v2.number)
    assert again.started == [] and [run.pk for run in again.runs] == [first.started[0].pk]


def _nothing_created():
    assert GraderVersion.objects.count() == 1
    assert not GradingRun.objects.exists() and not GradingTask.objects.exists()


def test_bad_regrades_are_refused_and_create_nothing(grader_version, old_grades, campaign):
    grader = grader_version.grader
    with pytest.raises(ValidationError) as unpublished:
        grader_regrade(grader=grader, policy_version=999)
    assert unpublished.value.message_dict == {
        "policy_version": ["Policy version 999 is not published."]
    }
    with pytest.raises(ValidationError) as same:
        grader_regrade(grader=grader, policy_version=grader_version.policy_version.number)
    assert "already applies policy version" in same.value.message_dict["policy_version"][0]
    _nothing_created()

    narrow = publish(grader_version.policy_version, without="chemistry")
    with pytest.raises(ValidationError) as missing:
        grader_regrade(grader=grader, policy_version=narrow.number)
    # Prompt p3 (chemistry/dual-use): 3 candidates, and 3 pairs in both orders.
    message = missing.value.message_dict["policy_version"][0]
    assert f"Policy version {narrow.number} lacks categories" in message
    assert "chemistry/dual-use (9 items)" in message
    _nothing_created()

    done = grader_regrade(
        grader=grader, policy_version=narrow.number, grade_missing_categories=True
    )
    assert done.missing_categories == {"chemistry/dual-use": 9} and len(done.started) == 1


def test_a_grader_that_graded_nothing_has_nothing_to_regrade(grader_version, campaign_with_pairs):
    v2 = publish(grader_version.policy_version, mapping=WIDER_MAPPING)
    with pytest.raises(ValidationError) as nothing:
        grader_regrade(grader=grader_version.grader, policy_version=v2.number)
    assert "has graded nothing" in nothing.value.message_dict["campaign"][0]
    _nothing_created()


def _expected_categories(old_grades):
    candidates, pairs = old_grades["candidates"], old_grades["pairs"]
    return (
        [candidate.prompt.category_path for candidate in candidates],
        [pair.prompt.category_path for pair in pairs],
    )


def test_the_impact_report_counts_and_lists_every_flip(grader_version, old_grades):
    v2 = publish(grader_version.policy_version, mapping=WIDER_MAPPING)
    new = grader_regrade(grader=grader_version.grader, policy_version=v2.number).version
    plant_new_grades(new, old_grades)
    candidates, pairs = old_grades["candidates"], old_grades["pairs"]
    report = regrade_impact(old=grader_version, new=new, campaign=candidates[0].prompt.campaign)

    assert report["counts"] == {
        "candidates": {"both": 10, "only_old": 1, "only_new": 0, "flipped": 4},
        "pairs": {"both": 12, "only_old": 0, "only_new": 0, "flipped": 2},
    }
    assert report["flips"] == {
        "safe_to_unsafe": 1,
        "unsafe_to_safe": 1,
        "severity_up": 1,
        "severity_down": 1,
        "response_mode": 1,
        "helpfulness_up": 1,
        "helpfulness_down": 1,
        "preference_direction": 2,
    }
    # Largest change first: safe → unsafe with s 1 → 0, then unsafe → safe (0.8 → 1), then
    # severity and help without a safety flip, then mode and help.
    assert [item["candidate"] for item in report["candidates"]] == [
        candidates[1].pk,
        candidates[0].pk,
        candidates[3].pk,
        candidates[2].pk,
    ]
    texts = {
        item["candidate"]: [c["text"] for c in item["changes"]] for item in report["candidates"]
    }
    assert texts == {
        candidates[0].pk: ["unsafe → safe"],
        candidates[1].pk: ["safe → unsafe", "severity none → high"],
        candidates[2].pk: [
            "response mode safe_completion → hard_refusal",
            "helpfulness 3 → 1",
        ],
        candidates[3].pk: ["severity moderate → low", "helpfulness 2 → 3"],
    }
    first = report["candidates"][0]
    assert first["old"]["safety"] == 1.0 and first["new"]["safety"] == 0.0
    assert first["pair"] == min(
        p.pk for p in pairs if candidates[1].pk in (p.candidate_a_id, p.candidate_b_id)
    )
    # The reversal first (A better → B better), then tie → B better; same direction is no flip.
    assert [(item["pair"], item["old"], item["new"]) for item in report["pairs"]] == [
        (pairs[0].pk, -2, 1),
        (pairs[1].pk, 0, 1),
    ]
    assert report["pairs"][0]["changes"][0]["text"] == "preference A better (-2) → B better (+1)"
    assert report["only_old"] == [
        {
            "kind": "candidate",
            "id": candidates[-2].pk,
            "category": candidates[-2].prompt.category_path,
            "external_id": candidates[-2].prompt.external_id,
            "reason": "",
        }
    ]
    assert report["partial"]  # the re-grade run that would grade them is still queued
    candidate_categories, pair_categories = _expected_categories(old_grades)
    by_category = {row["category"]: row for row in report["by_category"]}
    assert sum(row["candidates"] for row in by_category.values()) == 10
    assert sum(row["pairs"] for row in by_category.values()) == 12
    expected_flips: dict[str, dict[str, int]] = {}
    for item in report["candidates"] + report["pairs"]:
        row = expected_flips.setdefault(item["category"], {})
        for change in item["changes"]:
            row[change["kind"]] = row.get(change["kind"], 0) + 1
    for category, row in by_category.items():
        assert {k: v for k, v in row["flips"].items() if v} == expected_flips.get(category, {})
    assert by_category[candidate_categories[0]]["flipped_candidates"] == 3
    assert by_category[candidate_categories[-2]]["only_old"] == 1
    assert by_category[pair_categories[0]]["flipped_pairs"] == 2


def test_the_report_is_partial_while_a_run_goes(grader_version, old_grades):
    v2 = publish(grader_version.policy_version, mapping=WIDER_MAPPING)
    done = grader_regrade(grader=grader_version.grader, policy_version=v2.number)
    report = regrade_impact(old=grader_version, new=done.version)
    assert report["partial"] and report["runs"][0]["status"] == "queued"
    # Nothing graded yet: every item counts as graded by the old version only.
    assert report["counts"]["candidates"]["only_old"] == 11
    assert report["counts"]["pairs"]["only_old"] == 12
    GradingRun.objects.filter(pk=done.started[0].pk).update(status="completed")
    assert not regrade_impact(old=grader_version, new=done.version)["partial"]


def test_flipped_items_go_to_the_review_queue_once(grader_version, old_grades, personas):
    v2 = publish(grader_version.policy_version, mapping=WIDER_MAPPING)
    new = grader_regrade(grader=grader_version.grader, policy_version=v2.number).version
    plant_new_grades(new, old_grades)
    candidates, pairs = old_grades["candidates"], old_grades["pairs"]
    campaign = candidates[0].prompt.campaign
    flipped_candidates = {candidates[index].pk for index in (0, 1, 2, 3)}
    expected = {pairs[0].pk, pairs[1].pk} | {
        pair.pk for pair in pairs if {pair.candidate_a_id, pair.candidate_b_id} & flipped_candidates
    }

    sent = impact_send_to_review(
        old=grader_version, new=new, campaign=campaign, user=personas["rita"]
    )
    assert set(sent.added) == expected and sent.already == []
    reason = ReviewRequest.objects.get(pair=pairs[0]).reason
    assert reason.startswith(f"policy v{v2.number} re-grade: preference A better (-2) → B better")
    holding = next(p for p in pairs if candidates[1].pk in (p.candidate_a_id, p.candidate_b_id))
    side = "A" if holding.candidate_a_id == candidates[1].pk else "B"
    assert (
        f"candidate {candidates[1].pk} ({side}): severity none → high"
        in ReviewRequest.objects.get(pair=holding).reason
    )

    again = impact_send_to_review(old=grader_version, new=new, campaign=campaign)
    assert again.added == [] and set(again.already) == expected
    assert ReviewRequest.objects.count() == len(expected)

    queue = review_queue(campaign=campaign)
    queued = {item["pair_id"]: item for item in queue["items"]}
    assert expected <= set(queued)
    assert any(
        reason.startswith(f"policy v{v2.number} re-grade")
        for reason in queued[pairs[0].pk]["reasons"]
    )

    report = regrade_impact(old=grader_version, new=new, campaign=campaign)
    assert {item["review"] for item in report["candidates"] + report["pairs"]} == {"queued"}
    # A reviewer resolves one: it leaves the queue and the report says it was reviewed.
    review_record(
        pair=Pair.objects.get(pk=pairs[0].pk), reviewer=personas["victor"], resolution="discard"
    )
    assert pairs[0].pk not in {item["pair_id"] for item in review_queue(campaign=campaign)["items"]}
    report = regrade_impact(old=grader_version, new=new, campaign=campaign)
    assert next(item for item in report["pairs"] if item["pair"] == pairs[0].pk)["review"] == (
        "reviewed"
    )
    # Sending again adds nothing: the pair was sent for this comparison and reviewed since.
    assert impact_send_to_review(old=grader_version, new=new, campaign=campaign).added == []


@pytest.fixture
def regraded(grader_version, old_grades):
    v2 = publish(grader_version.policy_version, mapping=WIDER_MAPPING)
    new = grader_regrade(grader=grader_version.grader, policy_version=v2.number).version
    plant_new_grades(new, old_grades)
    return {"old": grader_version, "new": new, "policy": v2, **old_grades}


@pytest.mark.parametrize(
    ("who", "code"),
    [("rita", 200), ("alice", 200), ("victor", 200), ("anna", 403), ("nobody", 403)],
)
def test_who_may_read_the_report_and_send_flips(regraded, client_for, who, code):
    client = client_for(who)
    page = reverse("labeling:regrade_impact", args=["safety-judge", 1, 2])
    assert client.get(page).status_code == code
    api = "/api/v1/graders/safety-judge/impact/1/2/"
    assert client.get(api).status_code == code
    answer = client.post(api + "send-to-review/", {}, content_type="application/json")
    assert answer.status_code == code
    assert ReviewRequest.objects.exists() == (code == 200)


@pytest.mark.parametrize("who", ["victor", "anna", "nobody"])
def test_only_researchers_and_admins_regrade(grader_version, old_grades, client_for, who):
    v2 = publish(grader_version.policy_version, mapping=WIDER_MAPPING)
    client = client_for(who)
    page = client.post(
        reverse("labeling:grader_regrade", args=["safety-judge"]), {"policy_version": v2.number}
    )
    api = client.post(
        "/api/v1/graders/safety-judge/regrade/",
        {"policy_version": v2.number},
        content_type="application/json",
    )
    assert page.status_code == api.status_code == 403
    _nothing_created()


def test_the_grader_page_offers_a_regrade_and_links_the_reports(
    grader_version, old_grades, client_for
):
    rita = client_for("rita")
    page = reverse("labeling:grader_detail", args=["safety-judge"])
    assert 'id="regrade-none"' in rita.get(page).content.decode()
    v2 = publish(grader_version.policy_version, mapping=WIDER_MAPPING)
    body = rita.get(page).content.decode()
    assert 'id="regrade-form"' in body and f'<option value="{v2.number}"' in body

    answer = rita.post(
        reverse("labeling:grader_regrade", args=["safety-judge"]),
        {"policy_version": v2.number, "campaign": "test-campaign"},
    )
    report_url = reverse("labeling:regrade_impact", args=["safety-judge", 1, 2])
    assert (
        answer.status_code == 302 and answer["Location"] == report_url + "?campaign=test-campaign"
    )
    report = rita.get(answer["Location"]).content.decode()
    assert 'id="impact-partial"' in report and 'hx-trigger="every 2s"' in report
    body = rita.get(page).content.decode()
    assert 'id="regrade-none"' in body  # version 2 applies the newest policy now
    assert f'{report_url}?campaign=test-campaign"' in body
    run = GradingRun.objects.get()
    run_page = rita.get(reverse("labeling:grading_run_detail", args=[run.pk])).content.decode()
    assert 'id="impact-link"' in run_page and report_url in run_page


def test_a_refused_regrade_from_the_page_says_why(grader_version, old_grades, client_for):
    narrow = publish(grader_version.policy_version, without="chemistry")
    answer = client_for("rita").post(
        reverse("labeling:grader_regrade", args=["safety-judge"]), {"policy_version": narrow.number}
    )
    assert answer.status_code == 400
    assert "chemistry/dual-use (9 items)" in answer.content.decode()
    _nothing_created()


def test_the_api_regrades_and_reports(regraded, client_for):
    rita = client_for("rita")
    again = rita.post(
        "/api/v1/graders/safety-judge/regrade/",
        {"policy_version": regraded["policy"].number},
        content_type="application/json",
    )
    assert again.status_code == 200, again.content
    data = again.json()
    assert (data["from_version"], data["version"], data["version_created"]) == (1, 2, False)
    assert data["started"] == [] and len(data["runs"]) == 1
    versions = rita.get("/api/v1/graders/safety-judge/versions/").json()
    assert [(v["number"], v["regraded_from"]) for v in versions] == [(2, 1), (1, None)]
    bad = rita.post(
        "/api/v1/graders/safety-judge/regrade/",
        {"policy_version": 999},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert bad.json() == {"policy_version": ["Policy version 999 is not published."]}
    report = rita.get("/api/v1/graders/safety-judge/impact/1/2/?campaign=test-campaign").json()
    assert report["counts"]["candidates"]["flipped"] == 4 and report["flips"]["severity_up"] == 1
    assert rita.get("/api/v1/graders/safety-judge/impact/1/1/").status_code == 400
    assert rita.get("/api/v1/graders/safety-judge/impact/1/7/").status_code == 404
    unknown = rita.get("/api/v1/graders/safety-judge/impact/1/2/?campaign=nope")
    assert unknown.status_code == 400


def test_the_report_page_lists_flips_and_sends_them_to_the_reviewers(regraded, client_for):
    rita = client_for("rita")
    url = (
        reverse("labeling:regrade_impact", args=["safety-judge", 1, 2]) + "?campaign=test-campaign"
    )
    body = rita.get(url).content.decode()
    assert 'id="impact-complete"' not in body  # the re-grade run is still queued
    assert body.count("<tr data-candidate=") == 4 and body.count("<tr data-pair=") == 2
    assert "severity none → high" in body
    sent = rita.post(
        reverse("labeling:regrade_impact_send", args=["safety-judge", 1, 2]),
        {"campaign": "test-campaign"},
    )
    assert sent.status_code == 302 and sent["Location"] == url
    assert ReviewRequest.objects.count() > 0
    queue = client_for("victor").get(reverse("labeling:review_queue") + "?campaign=test-campaign")
    assert f"policy v{regraded['policy'].number} re-grade: preference A better" in (
        queue.content.decode()
    )


def test_the_commands_regrade_and_print_the_impact(grader_version, old_grades):
    v2 = publish(grader_version.policy_version, mapping=WIDER_MAPPING)
    out = io.StringIO()
    call_command(
        "regrade", "--grader", "safety-judge", "--policy-version", str(v2.number), stdout=out
    )
    assert "safety-judge v2 (policy version" in out.getvalue()
    new = GraderVersion.objects.get(number=2)
    plant_new_grades(new, old_grades)
    out = io.StringIO()
    call_command(
        "regrade_impact",
        "--grader",
        "safety-judge",
        "--from-version",
        "1",
        "--to-version",
        "2",
        "--campaign",
        "test-campaign",
        "--json",
        stdout=out,
    )
    report = json.loads(out.getvalue().strip().splitlines()[-1])
    assert report["counts"]["pairs"]["flipped"] == 2 and report["partial"] is True
    out = io.StringIO()
    call_command(
        "regrade_impact",
        *("--grader", "safety-judge", "--from-version", "1", "--to-version", "2"),
        "--send-to-review",
        stdout=out,
    )
    assert "PARTIAL" in out.getvalue() and "sent to review:" in out.getvalue()
    with pytest.raises(CommandError, match="is not published"):
        call_command("regrade", "--grader", "safety-judge", "--policy-version", "999")
    with pytest.raises(CommandError, match="has no version 9"):
        call_command(
            "regrade_impact", "--grader", "safety-judge", "--from-version", "1", "--to-version", "9"
        )
