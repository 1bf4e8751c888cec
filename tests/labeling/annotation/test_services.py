"""Claim, submit, skip, draft and edit through the services, against real PostgreSQL."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from labeling.annotation import services
from labeling.annotation.validation import JudgmentInvalid
from labeling.models import Assignment, Campaign, Judgment, JudgmentRevision, Pair, Skip

from .conftest import build_pairs, payload


@pytest.fixture(autouse=True, params=["one-statement", "orm"])
def round_trip_path(request, monkeypatch):
    """Every test here runs on both claim paths: PostgreSQL's one statement (what production
    runs) and the ORM path that databases without it (the SQLite demo) take."""
    if request.param == "orm":
        monkeypatch.setattr(services, "one_statement_round_trip", lambda: False)
    return request.param


def claim(campaign, user, **kwargs):
    return services.assignment_claim(campaign=campaign, annotator=user, **kwargs)


def submit(campaign, user, assignment, body=None, **kwargs):
    return services.judgment_submit(
        assignment_id=assignment.pk,
        annotator=user,
        campaign=campaign,
        data=body or payload(),
        **kwargs,
    )


def test_claim_leases_one_pair_and_returns_it_again_while_the_lease_lives(
    campaign_with_pairs, personas
):
    anna = personas["anna"]
    first = claim(campaign_with_pairs, anna).assignment
    assert first is not None
    assert first.annotator == anna
    assert first.campaign == campaign_with_pairs
    assert first.expires_at > timezone.now() + timedelta(minutes=29)
    assert first.left_is_a == services.left_is_a_for(annotator_id=anna.pk, pair_id=first.pair_id)
    again = claim(campaign_with_pairs, anna).assignment
    assert again.pk == first.pk
    assert Assignment.objects.filter(annotator=anna).count() == 1


def record_judgment(campaign, pair, user, slot):
    """A judgment made earlier (rows as the services leave them), to set up progress."""
    assignment = Assignment.objects.create(
        pair=pair, campaign=campaign, annotator=user, slot=slot, left_is_a=True,
        expires_at=timezone.now(), completed_at=timezone.now(),
    )  # fmt: skip
    Judgment.objects.create(
        pair=pair, annotator=user, assignment=assignment, policy_version=campaign.policy_version,
        a_response_mode="other", a_severity="none", a_helpfulness=1,
        b_response_mode="other", b_severity="none", b_helpfulness=1, preference=0,
        left_is_a=True,
    )  # fmt: skip
    Pair.objects.filter(pk=pair.pk).update(judgment_count=F("judgment_count") + 1)


def test_order_finishes_pairs_first_then_oldest(campaign, make_annotators):
    pairs = build_pairs(campaign, 4)
    earlier = make_annotators(3, prefix="earlier")
    record_judgment(campaign, pairs[2], earlier[0], 0)
    record_judgment(campaign, pairs[2], earlier[1], 1)
    record_judgment(campaign, pairs[3], earlier[2], 0)
    order = [claim(campaign, user).assignment.pair_id for user in make_annotators(4)]
    # k = 3: pair 2 (two judged) takes its last slot, then pair 3 (one judged) its last two,
    # then the oldest untouched pair.
    assert order == [pairs[2].pk, pairs[3].pk, pairs[3].pk, pairs[0].pk]


def test_submit_stores_canonical_order_whichever_side_was_left(campaign, make_annotators):
    # The side order is a hash of (annotator, pair) ids, so which six ids a run gets can
    # happen to give one order only: annotators keep coming until both orders were seen.
    build_pairs(campaign, 30)
    seen_orders = set()
    for checked, user in enumerate(make_annotators(30)):
        if checked >= 6 and seen_orders == {True, False}:
            break
        assignment = claim(campaign, user).assignment
        seen_orders.add(assignment.left_is_a)
        body = payload(
            left=("hard_refusal", "none", 2), right=("direct_answer", "moderate", 4),
            preference=-1,
        )  # fmt: skip
        judgment, created = submit(campaign, user, assignment, body, time_on_task_ms=1234)
        assert created
        judgment.refresh_from_db()
        left_letter, right_letter = ("a", "b") if assignment.left_is_a else ("b", "a")
        assert getattr(judgment, f"{left_letter}_response_mode") == "hard_refusal"
        assert getattr(judgment, f"{right_letter}_severity") == "moderate"
        assert judgment.preference == (-1 if assignment.left_is_a else 1)
        assert judgment.left_is_a == assignment.left_is_a
        assert judgment.time_on_task_ms == 1234
        assert judgment.policy_version_id == campaign.policy_version_id
    assert seen_orders == {True, False}, "thirty annotators should not all see the same order"


def test_submit_is_idempotent_per_assignment(campaign_with_pairs, personas):
    anna = personas["anna"]
    assignment = claim(campaign_with_pairs, anna).assignment
    first, created = submit(campaign_with_pairs, anna, assignment)
    again, created_again = submit(
        campaign_with_pairs,
        anna,
        assignment,
        payload(preference=0),  # a retried, changed body
    )
    assert created and not created_again
    assert again.pk == first.pk and again.preference == first.preference
    assert Judgment.objects.count() == 1
    pair = Pair.objects.get(pk=assignment.pair_id)
    assert pair.judgment_count == 1
    # The next claim is a different pair: the judged one is never offered again.
    assert claim(campaign_with_pairs, anna).assignment.pair_id != assignment.pair_id


def test_invalid_submit_saves_nothing(campaign_with_pairs, personas):
    anna = personas["anna"]
    assignment = claim(campaign_with_pairs, anna).assignment
    with pytest.raises(JudgmentInvalid):
        submit(campaign_with_pairs, anna, assignment, payload(preference=2))  # no rationale
    assert Judgment.objects.count() == 0
    assignment.refresh_from_db()
    assert assignment.completed_at is None
    assert Pair.objects.get(pk=assignment.pair_id).judgment_count == 0


def test_someone_elses_assignment_is_refused(campaign_with_pairs, personas):
    assignment = claim(campaign_with_pairs, personas["anna"]).assignment
    with pytest.raises(services.AssignmentLost):
        submit(campaign_with_pairs, personas["ben"], assignment)
    with pytest.raises(services.AssignmentLost):
        services.assignment_skip(
            assignment_id=assignment.pk, annotator=personas["ben"], reason="not mine"
        )
    assert Judgment.objects.count() == 0


def test_k_caps_the_judgments_per_pair(campaign, make_annotators):
    campaign.judgments_per_pair = 2
    campaign.save()
    build_pairs(campaign, 1)
    users = make_annotators(3)
    for user in users[:2]:
        assignment = claim(campaign, user).assignment
        submit(campaign, user, assignment)
    result = claim(campaign, users[2])
    assert result.assignment is None and result.reason == "done"


def test_database_refuses_a_second_assignment_in_one_slot(campaign, personas):
    pair = build_pairs(campaign, 1)[0]
    assignment = claim(campaign, personas["anna"]).assignment
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(
            pair=pair, campaign=campaign, annotator=personas["ben"], slot=assignment.slot,
            left_is_a=True, expires_at=timezone.now() + timedelta(minutes=5),
        )  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        Judgment.objects.create(
            pair=pair, annotator=personas["anna"], policy_version=campaign.policy_version,
            a_response_mode="other", a_severity="none", a_helpfulness=1,
            b_response_mode="other", b_severity="none", b_helpfulness=1,
            preference=0, left_is_a=True,
        ) and Judgment.objects.create(
            pair=pair, annotator=personas["anna"], policy_version=campaign.policy_version,
            a_response_mode="other", a_severity="none", a_helpfulness=1,
            b_response_mode="other", b_severity="none", b_helpfulness=1,
            preference=0, left_is_a=True,
        )  # fmt: skip


def test_an_expired_lease_returns_the_slot_to_the_pool(campaign, personas):
    campaign.judgments_per_pair = 1
    campaign.save()
    build_pairs(campaign, 1)
    anna, ben = personas["anna"], personas["ben"]
    assignment = claim(campaign, anna).assignment
    assert claim(campaign, ben).assignment is None  # the only slot is leased
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    taken = claim(campaign, ben).assignment
    assert taken is not None and taken.pair_id == assignment.pair_id
    assert taken.slot == assignment.slot
    # Anna's late submit finds the slot gone: nothing saved, the pair still has one slot.
    with pytest.raises(services.AssignmentLost):
        submit(campaign, anna, assignment)
    submit(campaign, ben, taken)
    assert Judgment.objects.filter(pair_id=assignment.pair_id).count() == 1
    assert claim(campaign, anna).assignment is None


def test_own_expired_lease_is_renewed_with_its_draft(campaign, personas):
    build_pairs(campaign, 2)
    anna = personas["anna"]
    assignment = claim(campaign, anna).assignment
    assert services.assignment_draft_save(
        assignment_id=assignment.pk, annotator=anna, draft={"left_severity": "low", "junk": "x"}
    )
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    again = claim(campaign, anna).assignment
    assert again.pk == assignment.pk
    again.refresh_from_db()
    assert again.draft == {"left_severity": "low"}
    assert again.expires_at > timezone.now()


def test_draft_save_extends_the_lease_and_refuses_others(campaign_with_pairs, personas):
    anna = personas["anna"]
    assignment = claim(campaign_with_pairs, anna).assignment
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() + timedelta(minutes=1)
    )
    assert services.assignment_draft_save(
        assignment_id=assignment.pk, annotator=anna, draft={"rationale": "half-written"}
    )
    assignment.refresh_from_db()
    assert assignment.expires_at > timezone.now() + timedelta(minutes=25)
    assert not services.assignment_draft_save(
        assignment_id=assignment.pk, annotator=personas["ben"], draft={"rationale": "x"}
    )


def test_skip_returns_the_pair_to_others_but_not_to_me(campaign, personas):
    campaign.judgments_per_pair = 1
    campaign.save()
    pair = build_pairs(campaign, 1)[0]
    anna, ben = personas["anna"], personas["ben"]
    assignment = claim(campaign, anna).assignment
    with pytest.raises(services.SkipInvalid):
        services.assignment_skip(assignment_id=assignment.pk, annotator=anna, reason=" ")
    with pytest.raises(services.SkipInvalid):
        services.assignment_skip(
            assignment_id=assignment.pk, annotator=anna, reason="x", flags=["bogus"]
        )
    skip = services.assignment_skip(
        assignment_id=assignment.pk, annotator=anna, reason="outside my expertise",
        flags=["needs_expert"],
    )  # fmt: skip
    assert skip.flags == ["needs_expert"] and skip.pair_id == pair.pk
    assert not Assignment.objects.filter(pk=assignment.pk).exists()
    assert claim(campaign, anna).assignment is None
    assert claim(campaign, ben).assignment.pair_id == pair.pk
    assert Skip.objects.count() == 1


def test_gold_pairs_are_mixed_in_at_the_campaign_rate(campaign, make_annotators):
    build_pairs(campaign, 10, gold=5)
    campaign.gold_rate = 0.0
    campaign.save()
    users = make_annotators(6)
    # Rate 0: gold pairs are never served.
    assert not claim(campaign, users[0]).assignment.pair.is_gold
    campaign.gold_rate = 1.0
    campaign.save()
    assert claim(campaign, users[1]).assignment.pair.is_gold
    campaign.gold_rate = 0.5
    campaign.save()
    rng = random.Random(3)
    kinds = [claim(campaign, user, rng=rng).assignment.pair.is_gold for user in users[2:]]
    assert True in kinds and False in kinds


def test_daily_cap(campaign, personas):
    build_pairs(campaign, 3)
    campaign.daily_cap = 1
    campaign.save()
    anna = personas["anna"]
    submit(campaign, anna, claim(campaign, anna).assignment)
    result = claim(campaign, anna)
    assert result.assignment is None and result.reason == "daily_cap"


def test_closed_campaign_gives_no_work(campaign_with_pairs, personas):
    campaign_with_pairs.status = Campaign.Status.CLOSED
    campaign_with_pairs.save()
    assert claim(campaign_with_pairs, personas["anna"]).reason == "closed"


def test_edit_keeps_history_and_stays_in_canonical_order(campaign_with_pairs, personas):
    anna = personas["anna"]
    assignment = claim(campaign_with_pairs, anna).assignment
    judgment, _ = submit(campaign_with_pairs, anna, assignment, payload(preference=1))
    edited = services.judgment_edit(
        judgment_id=judgment.pk, annotator=anna,
        data=payload(preference=-2, rationale="on reflection the left is far safer"),
    )  # fmt: skip
    assert edited.preference == (-2 if assignment.left_is_a else 2)
    revision = JudgmentRevision.objects.get(judgment=judgment)
    assert revision.values["preference"] == (1 if assignment.left_is_a else -1)
    with pytest.raises(services.AssignmentNotFound):
        services.judgment_edit(judgment_id=judgment.pk, annotator=personas["ben"], data=payload())
    campaign_with_pairs.status = Campaign.Status.CLOSED
    campaign_with_pairs.save()
    with pytest.raises(services.CampaignNotOpen):
        services.judgment_edit(judgment_id=judgment.pk, annotator=anna, data=payload())


def test_draft_drops_nul_characters(campaign_with_pairs, personas):
    anna = personas["anna"]
    assignment = claim(campaign_with_pairs, anna).assignment
    assert services.assignment_draft_save(
        assignment_id=assignment.pk,
        annotator=anna,
        draft={"rationale": "a\x00b", "flags": ["x\x00"]},
    )
    assignment.refresh_from_db()
    assert assignment.draft == {"rationale": "ab", "flags": ["x"]}
