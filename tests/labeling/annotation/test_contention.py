"""Many annotators at once, each thread on its own database connection: claims, double
clicks, retried submits, skips and abandoned leases. Exact counts at the end."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from labeling.annotation import services
from labeling.models import Assignment, Judgment, Pair, Skip

from .conftest import build_pairs, payload

K = 3
PAIRS = 14
WORKERS = 10


def _work(campaign, user, *, barrier, results, errors, skip_every=0, abandon_after=None):
    """One annotator's session: claim → (double) submit → retry, until no work is left."""
    rng = random.Random(user.pk)
    try:
        barrier.wait(timeout=30)
        done = 0
        while True:
            result = services.assignment_claim(campaign=campaign, annotator=user, rng=rng)
            assignment = result.assignment
            if assignment is None:
                break
            if abandon_after is not None and done >= abandon_after:
                results.append(("abandoned", user.pk, assignment.pk))
                break  # walks away: the lease must expire and the slot come back
            if skip_every and (done + 1) % skip_every == 0:
                services.assignment_skip(assignment_id=assignment.pk, annotator=user, reason="busy")
                results.append(("skipped", user.pk, assignment.pair_id))
                done += 1
                continue
            body = payload(preference=rng.choice([-1, 0, 1]), rationale="compared both")
            outcomes: list[tuple[int, bool]] = []

            def click(body=body, assignment=assignment, outcomes=outcomes):
                try:
                    judgment, created = services.judgment_submit(
                        assignment_id=assignment.pk, annotator=user, campaign=campaign, data=body
                    )
                    outcomes.append((judgment.pk, created))
                finally:
                    connection.close()

            # A double click: two requests for one assignment at the same moment.
            second = threading.Thread(target=click)
            second.start()
            click()
            second.join()
            # A retry after a lost response: same assignment, same answer back.
            judgment, created = services.judgment_submit(
                assignment_id=assignment.pk, annotator=user, campaign=campaign, data=body
            )
            outcomes.append((judgment.pk, created))
            results.append(("submitted", user.pk, assignment.pair_id, outcomes))
            done += 1
    except Exception as error:  # noqa: BLE001 - reported to the main thread
        errors.append(repr(error))
    finally:
        connection.close()


def _run_wave(campaign, users, **options_by_user):
    barrier = threading.Barrier(len(users))
    results: list = []
    errors: list = []
    threads = [
        threading.Thread(
            target=_work,
            args=(campaign, user),
            kwargs={
                "barrier": barrier,
                "results": results,
                "errors": errors,
                **options_by_user.get(user.username, {}),
            },
        )
        for user in users
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    return results


@pytest.mark.django_db(transaction=True)
def test_contention_gives_every_pair_exactly_k_judgments(policy_version, make_annotators):
    from labeling.campaigns.services import campaign_create

    campaign = campaign_create(
        name="Contention", slug="contention", policy_version=policy_version,
        judgments_per_pair=K, open_now=True,
    )  # fmt: skip
    build_pairs(campaign, PAIRS)
    users = make_annotators(WORKERS)
    options = {
        users[0].username: {"skip_every": 2},
        users[1].username: {"abandon_after": 2},
        users[2].username: {"abandon_after": 0},
    }
    first = _run_wave(campaign, users, **options)
    abandoned = [row for row in first if row[0] == "abandoned"]
    assert len(abandoned) == 2
    live = Assignment.objects.filter(completed_at__isnull=True)
    assert set(live.values_list("pk", flat=True)) == {row[2] for row in abandoned}

    # The abandoned leases run out; a second wave (without the quitters) finishes the work.
    live.update(expires_at=timezone.now() - timedelta(seconds=1))
    second = _run_wave(campaign, [users[0], *users[3:]], **options)

    submitted = [row for row in first + second if row[0] == "submitted"]
    for _kind, _user, _pair, outcomes in submitted:
        # Three requests per assignment (double click + retry): one creation, one judgment.
        assert sum(created for _pk, created in outcomes) == 1
        assert len({pk for pk, _created in outcomes}) == 1
    per_pair = Counter(
        dict(Judgment.objects.values_list("pair").annotate(n=Count("id")).values_list("pair", "n"))
    )
    assert len(per_pair) == PAIRS
    assert set(per_pair.values()) == {K}, per_pair
    assert Judgment.objects.count() == PAIRS * K == len(submitted)
    # No annotator judged a pair twice, and nobody judged a pair they skipped.
    pairs_by_user = Judgment.objects.values_list("annotator", "pair")
    assert len(set(pairs_by_user)) == pairs_by_user.count()
    skipped = set(Skip.objects.values_list("annotator", "pair"))
    assert skipped and not skipped & set(pairs_by_user)
    # Counters agree with the rows; no pair ever held more than k slots.
    for pair in Pair.objects.filter(prompt__campaign=campaign):
        assert pair.judgment_count == K
        assert Assignment.objects.filter(pair=pair).count() == K
    assert not Assignment.objects.filter(completed_at__isnull=True).exists()


STORM_ANNOTATORS = 12
# The annotate page asks again one second after a "busy" answer; the test pauses less.
BUSY_PAUSE_SECONDS = 0.2
STORM_PAIRS = 6

# Pairs ``annotator`` may still take a slot of: fewer than k slots held (judged or leased),
# none of them by this annotator. Written here in SQL of its own, apart from the code tested.
CLAIMABLE_SQL = """
SELECT count(*) FROM labeling_pair p
JOIN labeling_prompt pr ON pr.id = p.prompt_id
WHERE pr.campaign_id = %s
  AND (SELECT count(*) FROM labeling_assignment a
       WHERE a.pair_id = p.id AND (a.completed_at IS NOT NULL OR a.expires_at > now())) < %s
  AND NOT EXISTS (SELECT 1 FROM labeling_assignment a
                  WHERE a.pair_id = p.id AND a.annotator_id = %s)
  AND NOT EXISTS (SELECT 1 FROM labeling_judgment j
                  WHERE j.pair_id = p.id AND j.annotator_id = %s)
"""


def _claimable_now(campaign, user) -> int:
    with connection.cursor() as cursor:
        k = campaign.judgments_per_pair
        cursor.execute(CLAIMABLE_SQL, [campaign.pk, k, user.pk, user.pk])
        return int(cursor.fetchone()[0])


def _storm_annotator(campaign, user, *, barrier, answers, errors):
    """Claim, then submit-and-claim-next (the page's round trip) until the claim says "done";
    each "done" is checked at once against the rows: the claimable work of an annotator only
    shrinks here (no skips, no lease runs out), so any left now was there at the answer.
    A "busy" answer (work stayed locked for the claim's whole patience, which a loaded machine
    can stretch) is recorded and claimed again after a pause, as the annotate page does."""
    rng = random.Random(user.pk)
    try:
        barrier.wait(timeout=30)
        claim = services.assignment_claim(campaign=campaign, annotator=user, rng=rng)
        while True:
            while claim.assignment is not None:
                _judgment, _created, claim = services.judgment_submit_and_claim_next(
                    assignment_id=claim.assignment.pk,
                    annotator=user,
                    campaign=campaign,
                    data=payload(preference=rng.choice([-1, 0, 1]), rationale="compared both"),
                    rng=rng,
                )
                if claim.assignment is not None:
                    answers.append(("ok", user.pk, 0))
            if claim.reason != "busy":
                break
            answers.append(("busy", user.pk, _claimable_now(campaign, user)))
            time.sleep(BUSY_PAUSE_SECONDS)
            claim = services.assignment_claim(campaign=campaign, annotator=user, rng=rng)
        answers.append((claim.reason, user.pk, _claimable_now(campaign, user)))
    except Exception as error:  # noqa: BLE001 - reported to the main thread
        errors.append(repr(error))
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("one_statement", [True, False], ids=["statement", "portable"])
def test_claim_storm_never_answers_done_while_work_remains(
    policy_version, make_annotators, monkeypatch, k, one_statement
):
    """Many annotators on their own connections at once over a campaign with few pairs left:
    every claim that SKIP LOCKED left empty-handed while pairs were only locked for a
    moment must ask again, never answer "done"; no pair gets more than k slots."""
    from labeling.campaigns.services import campaign_create

    if not one_statement:
        monkeypatch.setattr(services, "one_statement_round_trip", lambda: False)
    campaign = campaign_create(
        name="Storm", slug=f"storm-{k}", policy_version=policy_version,
        judgments_per_pair=k, open_now=True,
    )  # fmt: skip
    build_pairs(campaign, STORM_PAIRS)
    users = make_annotators(STORM_ANNOTATORS, prefix=f"storm{k}-")
    barrier = threading.Barrier(len(users))
    answers: list[tuple[str, int, int]] = []
    errors: list[str] = []
    threads = [
        threading.Thread(
            target=_storm_annotator,
            args=(campaign, user),
            kwargs={"barrier": barrier, "answers": answers, "errors": errors},
        )
        for user in users
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    finals = [answer for answer in answers if answer[0] not in ("ok", "busy")]
    assert len(finals) == STORM_ANNOTATORS
    false_done = [answer for answer in finals if answer[0] == "done" and answer[2] > 0]
    assert false_done == [], false_done
    # The work is finished: every final answer is "done" (a "busy" was asked again), and
    # every pair holds exactly k judgments and k slots.
    assert {answer[0] for answer in finals} == {"done"}, finals
    per_pair = dict(
        Pair.objects.filter(prompt__campaign=campaign).values_list("pk", "judgment_count")
    )
    assert set(per_pair.values()) == {k}, per_pair
    slots = Counter(Assignment.objects.filter(campaign=campaign).values_list("pair", flat=True))
    assert set(slots.values()) == {k}, slots
    assert Judgment.objects.filter(pair__prompt__campaign=campaign).count() == STORM_PAIRS * k
