"""A grading run of a campaign's routing grader that completes has the campaign's ranks
recomputed on a worker: real Celery worker, the real openai client against the offline
server's grader stand-in."""

from __future__ import annotations

import pytest

from labeling.grading import runs
from labeling.models import Campaign, GradingRun, Pair
from labeling.routing.priority import route_rank
from labeling.routing.services import campaign_pair_grades, routing_recompute
from tests.conftest import wait_until

pytestmark = pytest.mark.worker


def test_ranks_are_recomputed_when_the_routing_graders_run_completes(
    campaign_with_pairs, grader_version, celery_worker, offline_server
):
    # Errors on a share of the items, with lower self-consistency: ranks then differ.
    offline_server.configure(latency_ms=5, seed=7, grader_error_rate=0.5)
    campaign = campaign_with_pairs
    Campaign.objects.filter(pk=campaign.pk).update(
        routing=Campaign.Routing.GRADER_FIRST, routing_grader=grader_version.grader
    )
    routing_recompute(campaign_id=campaign.pk)
    assert set(Pair.objects.values_list("route_rank", flat=True)) == {0}  # nothing graded yet
    run = runs.run_create(campaign=campaign, grader_version=grader_version)

    def routed() -> bool:
        runs.run_recover(run_id=run.pk)
        campaign.refresh_from_db()
        return campaign.routed_version_id == grader_version.pk

    wait_until(routed, timeout=90, interval=0.3)
    run.refresh_from_db()
    assert run.status == GradingRun.Status.COMPLETED
    expected = {
        pair_id: route_rank(grades)
        for pair_id, grades in campaign_pair_grades(
            campaign=campaign, version=grader_version
        ).items()
    }
    stored = dict(Pair.objects.filter(campaign=campaign).values_list("id", "route_rank"))
    assert stored == expected
    assert len(set(stored.values())) > 1 and 0 not in stored.values()


def test_a_run_of_another_grader_leaves_the_ranks_alone(
    campaign_with_pairs, grader_version, celery_worker, offline_server
):
    from labeling.grading.services import grader_create

    campaign = campaign_with_pairs
    other = grader_create(
        name="bystander", endpoint=grader_version.endpoint,
        policy_version=grader_version.policy_version,
    )  # fmt: skip
    Campaign.objects.filter(pk=campaign.pk).update(
        routing=Campaign.Routing.GRADER_FIRST, routing_grader=grader_version.grader
    )
    run = runs.run_create(campaign=campaign, grader_version=other, candidates=False)

    def finished() -> bool:
        runs.run_recover(run_id=run.pk)
        run.refresh_from_db()
        return not run.is_active

    wait_until(finished, timeout=90, interval=0.3)
    campaign.refresh_from_db()
    assert campaign.routed_at is None
    assert set(Pair.objects.values_list("route_rank", flat=True)) == {0}
