"""Consensus labels (Dawid–Skene), rater reliabilities and likely label errors."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene
from django.core.management import call_command
from django.test import Client

from labeling.generation.endpoints import endpoint_create
from labeling.grading.services import grader_create
from labeling.models import ConsensusRun, Grade, GraderVersion, ReviewRequest
from labeling.quality import consensus as consensus_module
from labeling.quality.agreement import FIELD_BY_NAME, collect_ratings, reduce_ratings
from labeling.quality.consensus import (
    DISAGREES,
    EM_ITERATIONS,
    EM_TOLERANCE,
    FIELD_DOMAINS,
    FLAG_CONFIDENCE,
    JUDGMENT_LABEL_COLUMNS,
    REASON,
    campaign_consensus,
    campaign_label_rows,
    direction,
    field_consensus,
    latest_consensus,
    read_judgment_labels,
    reduce_rows,
)
from labeling.quality.dawid_skene import dawid_skene
from labeling.quality.review import review_queue, review_record
from policy.rubric import PREFERENCE_FIELD, RESPONSE_MODE_FIELD, SEVERITY_FIELD

from .conftest import Builder

SEVERITIES = ("none", "negligible", "low", "moderate", "high")


def planted(accuracies: list[float], *, items: int, per_item: int, seed: int):
    """Items with a true severity; each rated by ``per_item`` of the raters, each rater right
    with their accuracy and otherwise uniformly wrong."""
    rng = np.random.default_rng(seed)
    truth = {unit: SEVERITIES[rng.integers(0, len(SEVERITIES))] for unit in range(items)}
    ratings: dict[int, dict[str, str]] = {}
    for unit, true in truth.items():
        chosen = rng.choice(len(accuracies), size=per_item, replace=False)
        ratings[unit] = {}
        for rater in chosen:
            if rng.random() < accuracies[rater]:
                value = true
            else:
                value = [s for s in SEVERITIES if s != true][rng.integers(0, 4)]
            ratings[unit][f"rater{rater}"] = value
    return truth, ratings


def test_consensus_equals_the_library_called_directly() -> None:
    _, ratings = planted([0.9, 0.8, 0.7, 0.6], items=120, per_item=3, seed=3)
    result = field_consensus(SEVERITY_FIELD, ratings)
    frame = pd.DataFrame(
        [(u, r, v) for u, raters in ratings.items() for r, v in raters.items()],
        columns=["task", "worker", "label"],
    )
    model = DawidSkene(n_iter=EM_ITERATIONS, tol=EM_TOLERANCE).fit(frame)
    for unit, (value, quality, _) in result.labels.items():
        assert value == model.labels_[unit]
        assert quality == pytest.approx(float(model.probas_.loc[unit].max()), abs=1e-6)
    for rater, reliability in result.raters.items():
        errors = model.errors_.loc[rater]
        expected = sum(
            model.priors_[value] * errors.loc[value, value]
            for value in model.priors_.index
            if value in errors.index
        )
        assert reliability == pytest.approx(expected)


def test_known_true_labels_and_unused_values_equal_the_library() -> None:
    """Reviewed items (crowd-kit's ``true_labels``) and raters who never use some values: the
    consensus, its quality, the prior, every confusion row and the number of EM iterations
    equal crowd-kit's own fit of the same rows."""
    truth, ratings = planted([0.95, 0.85, 0.7, 0.5, 0.3], items=300, per_item=3, seed=11)
    for raters in ratings.values():
        if "rater4" in raters:  # the weakest rater never says "high"
            raters["rater4"] = "none" if raters["rater4"] == "high" else raters["rater4"]
    known = {unit: truth[unit] for unit in list(truth)[::10]}
    result = field_consensus(SEVERITY_FIELD, ratings, true_labels=known)
    frame = pd.DataFrame(
        [(u, r, v) for u, raters in ratings.items() for r, v in raters.items()],
        columns=["task", "worker", "label"],
    )
    expected = pd.Series(known, dtype=object)
    expected.index.name = "task"
    model = DawidSkene(n_iter=EM_ITERATIONS, tol=EM_TOLERANCE).fit(frame, true_labels=expected)
    for unit, (value, quality, _) in result.labels.items():
        assert value == model.labels_[unit]
        assert quality == pytest.approx(float(model.probas_.loc[unit].max()), abs=1e-6)
        if unit in known:
            assert (value, quality) == (known[unit], 1.0)
    # The arrays underneath, compared with crowd-kit's frames value by value.
    tasks, units = pd.factorize(frame["task"], sort=True)
    workers, names = pd.factorize(frame["worker"], sort=True)
    labels, values = pd.factorize(frame["label"], sort=True)
    truth_codes = np.full(len(units), -1)
    for unit, value in known.items():
        truth_codes[list(units).index(unit)] = list(values).index(value)
    fit = dawid_skene(
        tasks,
        workers,
        labels,
        n_items=len(units),
        n_raters=len(names),
        true_labels=truth_codes,
        n_iter=EM_ITERATIONS,
        tol=EM_TOLERANCE,
    )
    assert fit.iterations == len(model.loss_history_)
    np.testing.assert_allclose(
        fit.probas, model.probas_.loc[list(units), list(values)].to_numpy(), atol=1e-12
    )
    np.testing.assert_allclose(fit.priors, model.priors_[list(values)].to_numpy(), atol=1e-12)
    for (worker, said), row in model.errors_.iterrows():
        rater, label = list(names).index(worker), list(values).index(said)
        assert fit.observed[rater, label]
        np.testing.assert_allclose(fit.errors[rater, label], row[list(values)], atol=1e-12)
    assert not fit.observed[list(names).index("rater4"), list(values).index("high")]
    assert fit.observed.sum() == len(model.errors_)


def test_a_raters_several_values_reduce_as_agreement_reduces_them() -> None:
    rng = np.random.default_rng(5)
    for name in (RESPONSE_MODE_FIELD, SEVERITY_FIELD):
        spec, domain = FIELD_BY_NAME[name], FIELD_DOMAINS[name]
        items = rng.integers(10_000, 10_200, size=5000)
        raters = rng.integers(0, 6, size=5000)
        values = rng.integers(0, len(domain), size=5000)
        reduced = reduce_rows(items, raters, values, nominal=spec.level == "nominal")
        found = {
            (item, rater): domain[value]
            for item, rater, value in zip(*(array.tolist() for array in reduced), strict=True)
        }
        several: dict[tuple[int, int], list[str]] = {}
        for item, rater, value in zip(
            items.tolist(), raters.tolist(), values.tolist(), strict=True
        ):
            several.setdefault((item, rater), []).append(domain[value])
        assert any(len(given) > 2 for given in several.values())
        assert found == {key: reduce_ratings(spec, given) for key, given in several.items()}


def test_planted_raters_rank_in_their_true_order_and_beat_majority() -> None:
    accuracies = [0.95, 0.9, 0.8, 0.65, 0.2]  # the last answers at random among five values
    truth, ratings = planted(accuracies, items=400, per_item=3, seed=7)
    result = field_consensus(SEVERITY_FIELD, ratings)
    order = sorted(result.raters, key=lambda rater: -result.raters[rater])
    assert order == [f"rater{index}" for index in range(5)]
    consensus = np.mean([result.labels[u][0] == truth[u] for u in truth])
    majority = np.mean([result.labels[u][2] == truth[u] for u in truth])
    assert consensus > majority


def test_too_few_raters_and_a_field_nobody_rated_say_so() -> None:
    single = field_consensus(SEVERITY_FIELD, {1: {"ann": "low"}, 2: {"ann": "none"}})
    assert single.problem is not None and "fewer than 2 raters" in single.problem
    assert single.labels == {} and single.raters == {}
    empty = field_consensus(PREFERENCE_FIELD, {})
    assert empty.problem == "nobody rated preference: there is nothing to model"


@pytest.fixture
def rated(build: Builder, annotators):
    """Twenty pairs judged by three careful annotators and one (rater4) who agrees with them
    except on every fifth pair, where they call B's side high and prefer A. Returns the
    pairs rater4 got wrong first, then the rest."""
    modes = ("hard_refusal", "safe_completion", "direct_answer", "refusal_with_redirection")
    levels = ("none", "negligible", "low", "moderate")
    wrong, right = [], []
    for index in range(20):
        prompt = build.prompt()
        pair = build.pair(build.candidate(prompt), build.candidate(prompt))
        a = (modes[index % 4], levels[(index + 1) % 4], 2)
        b = (modes[(index + 2) % 4], levels[index % 4], 3)
        preference = (-2, -1, 1, 2)[index % 4]
        for careful in annotators[:3]:
            build.judge(pair, careful, a=a, b=b, preference=preference)
        if index % 5 == 0:
            build.judge(pair, annotators[3], a=a, b=(b[0], "high", 3), preference=-preference)
            wrong.append(pair)
        else:
            build.judge(pair, annotators[3], a=a, b=b, preference=preference)
            right.append(pair)
    return wrong + right


def test_likely_label_errors_enter_the_review_queue_with_evidence(build: Builder, rated) -> None:
    run = consensus_module.consensus_request(campaign=build.campaign)
    assert run.status == ConsensusRun.Status.DONE
    severity = run.summary[SEVERITY_FIELD]
    reliabilities = {row["rater"]: row["reliability"] for row in severity["raters"]}
    assert reliabilities["rater4"] < min(reliabilities[f"rater{i}"] for i in (1, 2, 3))
    requests = ReviewRequest.objects.filter(source=ReviewRequest.Source.CONSENSUS)
    assert {request.pair_id for request in requests} == {pair.pk for pair in rated[:4]}
    request = requests.get(pair=rated[0])
    assert request.reason.startswith(f"{REASON}: ")
    flags = request.evidence["flags"]
    by_field = {(flag["field"], flag["rater"]) for flag in flags}
    assert (SEVERITY_FIELD, "rater4") in by_field
    assert (PREFERENCE_FIELD, "rater4") in by_field
    severity_flag = next(f for f in flags if f["field"] == SEVERITY_FIELD)
    assert severity_flag["value"] == "high" and severity_flag["consensus"] == "none"
    assert severity_flag["rater"] == "rater4"
    assert severity_flag["candidate"] == rated[0].candidate_b_id and severity_flag["side"] == "B"
    assert severity_flag["confidence"] >= FLAG_CONFIDENCE
    assert request.score == max(flag["confidence"] for flag in flags)
    queue = review_queue(campaign=build.campaign)
    listed = [item for item in queue["items"] if any(REASON in r for r in item["reasons"])]
    assert len(listed) == 4
    # Computing again sends nothing twice.
    again = consensus_module.consensus_request(campaign=build.campaign)
    assert again.summary["review"]["added"] == 0
    assert requests.count() == 4


def test_a_reviewers_resolution_feeds_back(build: Builder, rated, personas) -> None:
    consensus_module.consensus_request(campaign=build.campaign)
    pair = rated[0]
    # The reviewer sides with rater4 on this pair: the consensus follows the review.
    review_record(
        pair=pair,
        reviewer=personas["victor"],
        resolution="labels",
        final_labels={
            "a": {"response_mode": "hard_refusal", "severity": "low", "helpfulness": 2},
            "b": {"response_mode": "direct_answer", "severity": "high", "helpfulness": 3},
            "preference": 2,
        },
    )
    run = consensus_module.consensus_request(campaign=build.campaign)
    labels = latest_consensus(build.campaign, with_labels=True).labels
    assert run.pk == latest_consensus(build.campaign).pk
    assert labels[SEVERITY_FIELD][str(pair.candidate_b_id)][:2] == ["high", 1.0]
    assert labels[RESPONSE_MODE_FIELD][str(pair.candidate_b_id)][:2] == ["direct_answer", 1.0]
    assert labels[PREFERENCE_FIELD][str(pair.pk)][:2] == ["b", 1.0]
    # The review left the pair's request closed; the others stay in the queue.
    queue = review_queue(campaign=build.campaign)
    assert pair.pk not in {item["pair_id"] for item in queue["items"]}


def test_command_prints_per_field_and_json(build: Builder, rated) -> None:
    out = StringIO()
    call_command("consensus", "--campaign", build.campaign.slug, stdout=out)
    text = out.getvalue()
    assert "severity: 40 items" in text and "rater4" in text and "flagged" in text
    out = StringIO()
    call_command("consensus", "--campaign", build.campaign.slug, "--json", stdout=out)
    payload = json.loads(out.getvalue())
    assert payload[SEVERITY_FIELD]["items"] == 40
    assert {row["rater"] for row in payload[PREFERENCE_FIELD]["raters"]} == {
        "rater1",
        "rater2",
        "rater3",
        "rater4",
    }


def test_command_says_when_there_are_too_few_raters(build: Builder, annotators) -> None:
    prompt = build.prompt()
    build.judge(build.pair(build.candidate(prompt), build.candidate(prompt)), annotators[0])
    out = StringIO()
    call_command("consensus", "--campaign", build.campaign.slug, stdout=out)
    text = out.getvalue()
    assert "severity: every item has fewer than 2 raters" in text
    assert "reliability" not in text


def test_quality_page_computes_and_shows_reliabilities(build: Builder, rated, personas) -> None:
    url = f"/quality/campaigns/{build.campaign.slug}/consensus/"
    for name, allowed in (("rita", True), ("alice", True), ("victor", False), ("anna", False)):
        client = Client()
        client.force_login(personas[name])
        answer = client.post(url)
        assert answer.status_code == (302 if allowed else 403), name
    client = Client()
    client.force_login(personas["victor"])
    page = client.get(f"/quality/campaigns/{build.campaign.slug}/").content.decode()
    assert "Rater reliabilities" in page and "rater4" in page
    assert "Compute consensus" not in page  # reviewers see it, researchers compute it


@pytest.mark.django_db(transaction=True)
def test_a_large_campaign_is_computed_by_a_worker(
    build: Builder, rated, celery_worker, monkeypatch
) -> None:
    import time

    monkeypatch.setattr(consensus_module, "LIVE_JUDGMENTS_MAX", 0)
    run = consensus_module.consensus_request(campaign=build.campaign)
    assert run.status == ConsensusRun.Status.QUEUED
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in (ConsensusRun.Status.DONE, ConsensusRun.Status.FAILED):
            break
        time.sleep(0.2)
    assert run.status == ConsensusRun.Status.DONE, run.error
    assert run.summary[SEVERITY_FIELD]["items"] == 40


def test_export_with_consensus_labels_uses_them(build: Builder, rated, personas, tmp_path) -> None:
    from exports.services import export_preview

    data = {
        "format": "trl-preference",
        "campaigns": [build.campaign.slug],
        "labels": "consensus",
        "split_ratios": {"train": 1.0, "validation": 0.0, "test": 0.0},
    }
    with pytest.raises(Exception) as refused:
        export_preview(data=data)
    assert "labels" in refused.value.message_dict  # type: ignore[attr-defined]
    assert "no consensus computed for campaign quality" in str(refused.value)
    consensus_module.consensus_request(campaign=build.campaign)
    majority = export_preview(data={**data, "labels": "majority"})
    chosen = export_preview(data=data)
    assert chosen["labels"] == "consensus"
    assert chosen["consensus_runs"][0]["id"] == latest_consensus(build.campaign).pk
    assert chosen["other"]["pairs_with_consensus_labels"] == 20
    assert majority["rows"] == chosen["rows"] == 20
    out = tmp_path / "out"
    call_command(
        "export",
        "--campaign",
        build.campaign.slug,
        "--format",
        "trl-preference",
        "--combine",
        "consensus",
        "--split",
        "1,0,0",
        "--out",
        str(out),
        stdout=StringIO(),
    )
    (out,) = list(out.iterdir())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["labels"] == "consensus"
    assert manifest["consensus_runs"][0]["campaign"] == build.campaign.slug
    assert "consensus run" in (out / "README.md").read_text()
    rows = [
        json.loads(line)
        for path in sorted(out.glob("data/**/train.jsonl"))
        for line in path.read_text().splitlines()
    ]
    # rater4's reversed preference (a quarter of the judgments on its pairs) is out-voted
    # either way; with consensus the preference's strength is the careful raters' alone.
    chosen_texts = {row["chosen"][-1]["content"] for row in rows}
    assert len(rows) == 20 and len(chosen_texts) == 20


def _grader(name: str, policy_version) -> GraderVersion:
    endpoint = endpoint_create(
        name=f"{name}-endpoint", base_url="http://127.0.0.1:9/v1", model="judge-model"
    )
    return grader_create(name=name, endpoint=endpoint, policy_version=policy_version, samples=1)


def _grade(version: GraderVersion, **fields) -> None:
    Grade.objects.create(grader_version=version, confidence=1.0, raw_answers=["{}"], **fields)


def test_campaign_labels_are_every_raters_value_per_item(build: Builder, annotators) -> None:
    """Judgments (one annotator rating a candidate in two pairs reduced to one value),
    imported labels, and a grader version's candidate grades and pair grades (a pair's two
    orders one preference: their mean truncated toward zero) as the consensus reads them,
    against agreement's own collection plus the grader written out by hand."""
    prompt = build.prompt()
    first = build.candidate(prompt)
    second = build.candidate(
        prompt,
        prior_labels={
            "raters": [
                {"rater": "vendor", "response_mode": "safe_completion", "severity": "moderate"}
            ]
        },
    )
    third = build.candidate(
        prompt,
        prior_labels={
            "xstest": {"annotation_1": "2_full_refusal", "annotation_2": "1_full_compliance"}
        },
    )
    one_two, one_three = build.pair(first, second), build.pair(first, third)
    two_three = build.pair(second, third)
    rater1, rater2 = annotators[0], annotators[1]
    build.judge(
        one_two, rater1, a=("hard_refusal", "low", 1), b=("other", "high", 2), preference=-1
    )
    build.judge(one_three, rater1, a=("direct_answer", "none", 3), preference=2)
    build.judge(one_two, rater2, a=("direct_answer", "moderate", 2), preference=0)
    build.judge(
        two_three, rater2, a=("other", "negligible", 2), b=("hard_refusal", "none", 1), preference=1
    )
    judge = _grader("judge", build.campaign.policy_version)
    _grade(
        judge,
        kind=Grade.Kind.CANDIDATE,
        candidate=first,
        response_mode="safe_completion",
        severity="low",
        helpfulness=3,
    )
    _grade(
        judge,
        kind=Grade.Kind.CANDIDATE,
        candidate=third,
        response_mode="hard_refusal",
        severity="none",
        helpfulness=1,
    )
    for pair, orders in ((one_two, (-2, 1)), (one_three, (-2, -1)), (two_three, (2,))):
        for order, preference in zip(("ab", "ba"), orders, strict=False):
            _grade(judge, kind=Grade.Kind.PAIR, pair=pair, order=order, preference=preference)

    found = {
        name: {
            item: {
                rows.rater_names[rater]: FIELD_DOMAINS[name][value]
                for i, rater, value in zip(rows.items, rows.raters, rows.values, strict=True)
                if i == item
            }
            for item in set(rows.items.tolist())
        }
        for name, rows in campaign_label_rows(build.campaign).items()
    }
    expected = collect_ratings(campaign=build.campaign)
    expected[PREFERENCE_FIELD] = {
        pair: {rater: direction(value) for rater, value in raters.items()}
        for pair, raters in expected[PREFERENCE_FIELD].items()
    }
    grader = "grader:judge v1"
    expected[RESPONSE_MODE_FIELD][first.pk][grader] = "safe_completion"
    expected[SEVERITY_FIELD][first.pk][grader] = "low"
    expected[RESPONSE_MODE_FIELD][third.pk][grader] = "hard_refusal"
    expected[SEVERITY_FIELD][third.pk][grader] = "none"
    expected[PREFERENCE_FIELD][one_two.pk][grader] = "tie"  # mean -0.5
    expected[PREFERENCE_FIELD][one_three.pk][grader] = "a"  # mean -1.5
    expected[PREFERENCE_FIELD][two_three.pk][grader] = "b"
    for name in (RESPONSE_MODE_FIELD, SEVERITY_FIELD, PREFERENCE_FIELD):
        assert found[name] == expected[name], name
    # rater1 called the first candidate hard_refusal/low, then direct_answer/none.
    assert found[RESPONSE_MODE_FIELD][first.pk]["rater1"] == "direct_answer"  # rubric order
    assert found[SEVERITY_FIELD][first.pk]["rater1"] == "none"  # the lower median
    assert found[RESPONSE_MODE_FIELD][third.pk]["xstest:annotation_1"] == "hard_refusal"
    assert found[SEVERITY_FIELD][second.pk]["prior:vendor"] == "moderate"


def test_the_portable_read_gives_the_rows_copy_gives(build: Builder, rated, monkeypatch) -> None:
    copied = read_judgment_labels(build.campaign)
    monkeypatch.setattr(consensus_module, "is_postgresql", lambda: False)
    fetched = read_judgment_labels(build.campaign)
    assert list(copied.columns) == list(JUDGMENT_LABEL_COLUMNS) and len(copied) == 80
    assert (copied.dtypes == np.int64).all()
    order = ["pair", "annotator"]
    pd.testing.assert_frame_equal(
        copied.sort_values(order, ignore_index=True), fetched.sort_values(order, ignore_index=True)
    )


@pytest.fixture
def graded_confidence(build: Builder, annotators):
    """Two pairs where rater1 and rater2 alone prefer opposite sides (an uncertain
    consensus), then twelve where rater4 reverses the preference on every other one, judged
    beside one careful rater on the first four, two on the next and three on the last: the
    consensus against rater4 is held with rising confidence as the pair ids rise."""
    pairs = []
    for index in range(14):
        prompt = build.prompt()
        pair = build.pair(build.candidate(prompt), build.candidate(prompt))
        if index < 2:
            build.judge(pair, annotators[0], preference=-2)
            build.judge(pair, annotators[1], preference=2)
        else:
            preference = (-2, -1, 1, 2)[index % 4]
            for careful in annotators[: 1 + min(2, (index - 2) // 4)]:
                build.judge(pair, careful, preference=preference)
            reversed_ = index % 2 == 0
            build.judge(pair, annotators[3], preference=-preference if reversed_ else preference)
        pairs.append(pair)
    return pairs


def test_flags_over_the_cap_keep_the_best_ranked_and_say_how_many_are_left(
    build: Builder, graded_confidence, personas, monkeypatch
) -> None:
    results = campaign_consensus(build.campaign)
    ranks: dict[int, float] = {}
    for name, result in results.items():
        for flag in result.flags.to_dict("records"):
            assert name == PREFERENCE_FIELD  # both sides agree everywhere
            rank = (
                flag["confidence"] if flag["kind"] == DISAGREES else 0.5 * (1 - flag["confidence"])
            )
            ranks[flag["item"]] = max(rank, ranks.get(flag["item"], 0.0))
    best = sorted(ranks, key=lambda pair_id: (-ranks[pair_id], pair_id))
    # Enough flagged pairs over the cap, ranked otherwise than by id.
    assert len(ranks) > 3 and best[:3] != sorted(ranks)[:3], ranks
    monkeypatch.setattr(consensus_module, "REVIEW_FLAGS_MAX", 3)
    run = consensus_module.consensus_request(campaign=build.campaign)
    review = run.summary["review"]
    assert review == {
        "flagged_pairs": len(ranks),
        "sent": 3,
        "over_cap": len(ranks) - 3,
        "cap": 3,
        "added": 3,
    }
    requests = ReviewRequest.objects.filter(source=ReviewRequest.Source.CONSENSUS)
    assert {request.pair_id: request.score for request in requests} == {
        pair_id: pytest.approx(ranks[pair_id]) for pair_id in best[:3]
    }
    client = Client()
    client.force_login(personas["rita"])
    page = client.get(f"/quality/campaigns/{build.campaign.slug}/").content.decode()
    assert f"{len(ranks) - 3} more flagged pairs over the cap of 3 per computation" in page
