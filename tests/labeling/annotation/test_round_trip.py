"""The round trip as one query (``statements``): same rules as the services always had.

Submit + claim through ``judgment_submit_and_claim_next``: what it writes, what it leaves to
the ordinary services (replays, lost leases, bad input, closed campaigns), the daily cap, the
side order computed in SQL, re-preparing after the session lost its prepared statements, and
many annotators at once with double clicks.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from labeling.annotation import services
from labeling.annotation.claim import postgres as statements
from labeling.annotation.validation import JudgmentInvalid
from labeling.models import Assignment, Campaign, Judgment, Pair

from .conftest import build_pairs, payload


def claim(campaign, user):
    return services.assignment_claim(campaign=campaign, annotator=user)


def submit_next(campaign, user, assignment, body=None, **kwargs):
    return services.judgment_submit_and_claim_next(
        assignment_id=assignment.pk,
        annotator=user,
        campaign=campaign,
        data=body or payload(),
        **kwargs,
    )


def test_submit_and_claim_next_writes_the_judgment_and_leases_the_next_pair(campaign, personas):
    build_pairs(campaign, 3)
    anna = personas["anna"]
    first = claim(campaign, anna).assignment
    body = payload(
        left=("hard_refusal", "none", 2), right=("direct_answer", "moderate", 4), preference=-1
    )
    judgment, created, next_claim = submit_next(campaign, anna, first, body, time_on_task_ms=777)
    assert created and next_claim.reason == "ok"
    stored = Judgment.objects.get()
    assert stored.pk == judgment.pk and stored.assignment_id == first.pk
    assert stored.pair_id == first.pair_id and stored.annotator == anna
    assert stored.policy_version_id == campaign.policy_version_id
    assert stored.time_on_task_ms == 777 and stored.left_is_a == first.left_is_a
    left_letter, right_letter = ("a", "b") if first.left_is_a else ("b", "a")
    assert getattr(stored, f"{left_letter}_response_mode") == "hard_refusal"
    assert getattr(stored, f"{right_letter}_severity") == "moderate"
    assert stored.preference == (-1 if first.left_is_a else 1)
    # The returned instance says what the row says.
    for field in ("pair_id", "preference", "a_severity", "b_helpfulness", "left_is_a"):
        assert getattr(judgment, field) == getattr(stored, field)
    first.refresh_from_db()
    assert first.completed_at is not None and first.draft == {}
    assert Pair.objects.get(pk=first.pair_id).judgment_count == 1
    second = next_claim.assignment
    assert second.pair_id != first.pair_id and second.annotator_id == anna.pk
    assert second.pair.prompt.messages and second.pair.candidate_a.text
    assert Assignment.objects.get(pk=second.pk).completed_at is None


def test_time_on_task_defaults_to_the_time_since_the_lease(campaign, personas):
    build_pairs(campaign, 2)
    anna = personas["anna"]
    first = claim(campaign, anna).assignment
    Assignment.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(seconds=90))
    judgment, _created, _claim = submit_next(campaign, anna, first)
    stored = Judgment.objects.get(pk=judgment.pk)
    assert 90_000 <= stored.time_on_task_ms < 200_000
    assert judgment.time_on_task_ms == stored.time_on_task_ms


def test_a_replayed_submit_creates_nothing_and_shows_the_same_next_pair(campaign, personas):
    build_pairs(campaign, 3)
    anna = personas["anna"]
    first = claim(campaign, anna).assignment
    judgment, created, next_claim = submit_next(campaign, anna, first)
    again, created_again, claim_again = submit_next(campaign, anna, first, payload(preference=0))
    assert created and not created_again and again.pk == judgment.pk
    assert claim_again.assignment.pk == next_claim.assignment.pk
    assert Judgment.objects.count() == 1
    assert Pair.objects.get(pk=first.pair_id).judgment_count == 1


def test_what_the_statement_refuses_writes_nothing(campaign, personas):
    build_pairs(campaign, 3)
    anna, ben = personas["anna"], personas["ben"]
    mine = claim(campaign, anna).assignment
    with pytest.raises(JudgmentInvalid):
        submit_next(campaign, anna, mine, payload(preference=2))  # no rationale
    with pytest.raises(services.AssignmentLost):
        submit_next(campaign, ben, mine)
    other = Campaign.objects.create(
        name="Other", slug="other", policy_version=campaign.policy_version,
        status=Campaign.Status.OPEN,
    )  # fmt: skip
    with pytest.raises(services.AssignmentNotFound):
        submit_next(other, anna, mine)
    campaign.status = Campaign.Status.CLOSED
    campaign.save()
    with pytest.raises(services.CampaignNotOpen):
        submit_next(campaign, anna, mine)
    assert Judgment.objects.count() == 0
    # Ben's failed attempt did not lease him anything either.
    assert not Assignment.objects.filter(annotator=ben).exists()
    mine.refresh_from_db()
    assert mine.completed_at is None


def test_daily_cap_counts_the_judgment_just_written(campaign, personas):
    build_pairs(campaign, 4)
    campaign.daily_cap = 2
    campaign.save()
    anna = personas["anna"]
    first = claim(campaign, anna).assignment
    _judgment, _created, second = submit_next(campaign, anna, first)
    assert second.reason == "ok"
    _judgment, _created, third = submit_next(campaign, anna, second.assignment)
    assert third.assignment is None and third.reason == "daily_cap"
    assert Judgment.objects.filter(annotator=anna).count() == 2


def test_the_last_pair_done_says_done(campaign, personas):
    build_pairs(campaign, 1)
    anna = personas["anna"]
    only = claim(campaign, anna).assignment
    _judgment, created, after = submit_next(campaign, anna, only)
    assert created and after.assignment is None and after.reason == "done"


def test_side_order_in_sql_is_the_python_one(campaign, make_annotators):
    build_pairs(campaign, 12)
    seen = set()
    for user in make_annotators(3):
        result = claim(campaign, user)
        while result.assignment is not None:
            assignment = result.assignment
            expected = services.left_is_a_for(annotator_id=user.pk, pair_id=assignment.pair_id)
            assert assignment.left_is_a == expected
            seen.add(expected)
            _judgment, _created, result = submit_next(campaign, user, assignment)
    assert seen == {True, False}
    assert Judgment.objects.count() == 36


def test_a_session_that_lost_its_prepared_statements_prepares_them_again(campaign, personas):
    build_pairs(campaign, 3)
    anna = personas["anna"]
    first = claim(campaign, anna).assignment
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert claim(campaign, anna).assignment.pk == first.pk
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    _judgment, created, after = submit_next(campaign, anna, first)
    assert created and after.assignment is not None


def test_the_statements_are_prepared_once_per_connection(campaign, personas):
    build_pairs(campaign, 3)
    anna = personas["anna"]
    first = claim(campaign, anna).assignment
    submit_next(campaign, anna, first)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'graylab_round_trip_%%'"
        )
        assert cursor.fetchone()[0] == 2  # the claim and the submit + claim
    assert statements.prepared(statements.submit_statement()).name.startswith("graylab_round_trip_")


def test_the_round_trip_settles_on_a_generic_plan(campaign, make_annotators):
    """Once PostgreSQL has seen a few executions it stops planning the statement each time
    (planning it costs more than running it)."""
    build_pairs(campaign, 40)
    campaign.judgments_per_pair = 1
    campaign.save()
    user = make_annotators(1)[0]
    assignment = claim(campaign, user).assignment
    for _ in range(12):
        _judgment, _created, result = submit_next(campaign, user, assignment)
        assignment = result.assignment
    for shape in (
        statements.prepared(statements.submit_statement()),
        *statements.claim_shapes(campaign),
    ):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT generic_plans FROM pg_prepared_statements WHERE name = %s", [shape.name]
            )
            assert cursor.fetchone()[0] > 0, shape.name


K = 3
PAIRS = 12
WORKERS = 8


def _claim_patiently(campaign, user):
    # SKIP LOCKED passes over pairs other requests hold at that instant, so near the end a
    # claim can find nothing while a few slots are still being settled: ask a few times.
    for _attempt in range(20):
        assignment = services.assignment_claim(campaign=campaign, annotator=user).assignment
        if assignment is not None:
            return assignment
        time.sleep(0.05)
    return None


def _annotate(campaign, user, *, barrier, results, errors):
    """Claim, then submit + claim until no work is left; every submit is double-clicked."""
    try:
        barrier.wait(timeout=30)
        assignment = _claim_patiently(campaign, user)
        while assignment is not None:
            outcomes = []

            def click(assignment=assignment, outcomes=outcomes):
                try:
                    outcomes.append(submit_next(campaign, user, assignment))
                finally:
                    connection.close()

            second = threading.Thread(target=click)
            second.start()
            click()
            second.join()
            assert sum(created for _judgment, created, _claim in outcomes) == 1
            assert len({judgment.pk for judgment, _created, _claim in outcomes}) == 1
            results.append((user.pk, assignment.pair_id))
            # Both clicks show the same next pair (one of them may have found none free).
            nexts = {claim.assignment.pk for *_, claim in outcomes if claim.assignment}
            assert len(nexts) <= 1, nexts
            assignment = (
                Assignment.objects.get(pk=nexts.pop())
                if nexts
                else _claim_patiently(campaign, user)
            )
            assert Assignment.objects.filter(annotator=user, completed_at__isnull=True).count() == (
                1 if assignment else 0
            )
    except Exception as error:  # noqa: BLE001 - reported to the main thread
        errors.append(repr(error))
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_many_annotators_submit_and_claim_at_once(policy_version, make_annotators):
    from labeling.campaigns.services import campaign_create

    campaign = campaign_create(
        name="Round trips", slug="round-trips", policy_version=policy_version,
        judgments_per_pair=K, open_now=True,
    )  # fmt: skip
    build_pairs(campaign, PAIRS)
    users = make_annotators(WORKERS)
    # One abandoned, expired lease: its slot must go to someone else.
    abandoned = services.assignment_claim(campaign=campaign, annotator=users[0]).assignment
    Assignment.objects.filter(pk=abandoned.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    workers = users[1:]
    barrier = threading.Barrier(len(workers))
    results: list = []
    errors: list = []
    threads = [
        threading.Thread(
            target=_annotate,
            args=(campaign, user),
            kwargs={"barrier": barrier, "results": results, "errors": errors},
        )
        for user in workers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    per_pair = Counter(
        dict(Judgment.objects.values_list("pair").annotate(n=Count("id")).values_list("pair", "n"))
    )
    assert len(per_pair) == PAIRS and set(per_pair.values()) == {K}
    assert Judgment.objects.count() == PAIRS * K == len(results)
    pairs_by_user = list(Judgment.objects.values_list("annotator", "pair"))
    assert len(set(pairs_by_user)) == len(pairs_by_user)
    assert not Judgment.objects.filter(annotator=users[0]).exists()
    for pair in Pair.objects.filter(prompt__campaign=campaign):
        assert pair.judgment_count == K
        assert Assignment.objects.filter(pair=pair).count() == K
    assert not Assignment.objects.filter(completed_at__isnull=True).exists()
