"""Many annotators at once, each thread on its own database connection: claims, double
clicks, retried submits, skips and abandoned leases. Exact counts at the end."""

from __future__ import annotations

import random
import threading
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
