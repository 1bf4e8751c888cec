"""The annotator's progress on the pair page, "undo the last submit", and a failed submit that
keeps what was filled in."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from labeling.annotation import progress as progress_module
from labeling.annotation.progress import annotator_progress
from labeling.models import Assignment, ConsensusRun, Judgment, JudgmentRevision, Pair
from labeling.quality.consensus import CONSENSUS_FIELDS, consensus_request, rater_reliabilities
from labeling.quality.gold import gold_answer_clean
from policy.rubric import FIELD_LABELS

from .conftest import build_pairs, form_fields, payload

HTMX = {"HTTP_HX_REQUEST": "true"}
GOLD_ANSWER = {
    "a": {"severity": "none", "helpfulness": 3},
    "b": {"severity": "none", "helpfulness": 3},
    "preference": 1,
    "severity_tolerance": 0,
    "helpfulness_tolerance": 0,
}


def annotate_url(campaign):
    return reverse("labeling:annotate", args=(campaign.slug,))


def progress_url(campaign):
    return reverse("labeling:annotate_progress", args=(campaign.slug,))


def current_assignment(user):
    return Assignment.objects.filter(annotator=user, completed_at__isnull=True).get()


def judge(pair, user, *, slot=0, created_at=None, a_help=3, b_help=3, preference=1):
    """A judgment written straight to the table (the triggers keep the pre-aggregates)."""
    now = created_at or timezone.now()
    assignment = Assignment.objects.create(
        pair=pair, campaign=pair.campaign, annotator=user, slot=slot, left_is_a=True,
        expires_at=now, completed_at=now,
    )  # fmt: skip
    judgment = Judgment.objects.create(
        pair=pair, annotator=user, assignment=assignment,
        policy_version=pair.campaign.policy_version,
        a_response_mode="safe_completion", a_severity="none", a_helpfulness=a_help,
        b_response_mode="safe_completion", b_severity="none", b_helpfulness=b_help,
        preference=preference, left_is_a=True,
    )  # fmt: skip
    if created_at is not None:
        Judgment.objects.filter(pk=judgment.pk).update(created_at=created_at)
    Pair.objects.filter(pk=pair.pk).update(judgment_count=slot + 1)
    return judgment


def test_progress_counts_today_what_is_left_and_the_gold_score(campaign, personas):
    cache.clear()
    anna, ben = personas["anna"], personas["ben"]
    pairs = build_pairs(campaign, 6, gold=2)
    Pair.objects.filter(pk__in=[pairs[0].pk, pairs[1].pk]).update(
        gold_answer=gold_answer_clean(GOLD_ANSWER)
    )
    pairs = list(Pair.objects.filter(pk__in=[pair.pk for pair in pairs]).order_by("pk"))
    judge(pairs[0], anna)  # gold, passed
    judge(pairs[1], anna, a_help=1)  # gold, failed
    judge(pairs[2], anna, created_at=timezone.now() - timedelta(days=2))  # not today
    judge(pairs[2], ben, slot=1)
    k = campaign.judgments_per_pair
    figures = annotator_progress(campaign=campaign, annotator=anna)
    assert figures.done_today == 2
    assert figures.pairs == 6
    assert figures.judgments_left == 6 * k - 4
    assert figures.gold_judgments is None  # the campaign does not show it
    campaign.show_gold_score = True
    campaign.save()
    figures = annotator_progress(campaign=campaign, annotator=anna)
    assert (figures.gold_judgments, figures.gold_passed, figures.gold_percent) == (2, 1, 50)
    ben_figures = annotator_progress(campaign=campaign, annotator=ben)
    assert (ben_figures.done_today, ben_figures.gold_percent) == (1, None)
    # The pre-aggregates give what counting the judgments gives (the demo's way).
    assert progress_module._counted(campaign, anna) == (2, 4, 6, 2, 1)
    # The pair count is kept for a while (pairs come with imports and runs), then counted again.
    build_pairs(campaign, 2)
    assert annotator_progress(campaign=campaign, annotator=anna).pairs == 6
    cache.delete(progress_module._pair_count_key(campaign))
    assert annotator_progress(campaign=campaign, annotator=anna).pairs == 8


# Transactional, so requests run in autocommit as in production (no savepoints around the
# prepared access statement).
@pytest.mark.django_db(transaction=True)
def test_progress_fragment_is_one_query_beyond_the_access_check(
    campaign_with_pairs, client_for, personas
):
    cache.clear()
    client = client_for("anna")
    client.post(annotate_url(campaign_with_pairs), **HTMX)
    page = client.get(annotate_url(campaign_with_pairs)).content.decode()
    assert f'hx-get="{progress_url(campaign_with_pairs)}"' in page
    # Session and user, the roles with the campaign (one statement), and the figures (one
    # statement, counting the pairs only when the count is not kept).
    for counted in (True, False):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(progress_url(campaign_with_pairs), **HTMX)
        assert len(queries) == 4, [query["sql"][:80] for query in queries]
        assert ("COUNT(*)" in queries[-1]["sql"]) is counted
    html = response.content.decode()
    assert response.status_code == 200
    assert "0 done today" in html and "gold score" not in html
    assert client_for("rita").get(progress_url(campaign_with_pairs)).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_progress_shows_the_consensus_reliability_where_scores_are_shown(
    campaign_with_pairs, client_for, personas
):
    cache.clear()
    campaign = campaign_with_pairs
    anna, ben = personas["anna"], personas["ben"]
    for pair in Pair.objects.filter(campaign=campaign).order_by("pk")[:4]:
        judge(pair, anna)
        judge(pair, ben, slot=1, preference=-1 if pair.pk % 2 else 1)
    campaign.show_gold_score = True
    campaign.save()
    client = client_for("anna")
    client.post(annotate_url(campaign), **HTMX)
    html = client.get(progress_url(campaign), **HTMX).content.decode()
    assert "consensus reliability: none yet" in html
    run = consensus_request(campaign=campaign)
    assert run.status == ConsensusRun.Status.DONE
    mine = rater_reliabilities(run)["anna"]
    assert set(mine) == set(CONSENSUS_FIELDS)
    # Still the figures' one statement beyond the access check, the count kept or not.
    for counted in (True, False):
        if counted:
            cache.delete(progress_module._pair_count_key(campaign))
        with CaptureQueriesContext(connection) as queries:
            html = client.get(progress_url(campaign), **HTMX).content.decode()
        assert len(queries) == 4, [query["sql"][:80] for query in queries]
    shown = ", ".join(f"{FIELD_LABELS[name].lower()} {mine[name]:.2f}" for name in CONSENSUS_FIELDS)
    assert f"consensus reliability {shown} (computed" in html
    figures = annotator_progress(campaign=campaign, annotator=anna)
    assert figures.reliability == pytest.approx(mine)
    assert figures.reliability_at == run.computed_at
    # The demo's way (no pre-aggregates) reads the same run.
    assert progress_module._reliability_counted(campaign, anna) == {
        "computed_at": run.computed_at,
        "reliability": mine,
    }
    # A campaign that shows no scores shows no reliability either.
    campaign.show_gold_score = False
    campaign.save()
    assert annotator_progress(campaign=campaign, annotator=anna).reliability is None
    assert "reliability" not in client.get(progress_url(campaign), **HTMX).content.decode()


def test_submit_offers_undo_and_the_edit_returns_to_the_pair_page(
    campaign_with_pairs, client_for, personas
):
    anna = personas["anna"]
    client = client_for("anna")
    client.post(annotate_url(campaign_with_pairs), **HTMX)
    first = current_assignment(anna)
    url = reverse("labeling:annotate_submit", args=(campaign_with_pairs.slug, first.pk))
    html = client.post(url, form_fields(payload()), **HTMX).content.decode()
    judgment = Judgment.objects.get(assignment=first)
    edit = reverse("labeling:judgment_edit", args=(judgment.pk,))
    assert re.search(rf'id="undo-last"[^>]*href="{edit}\?from=annotate"', html) or (
        f'href="{edit}?from=annotate"' in html and 'id="undo-last"' in html
    )
    # The progress in the answer's fragment counts the submit.
    assert "1 done today" in client.get(progress_url(campaign_with_pairs)).content.decode()
    page = client.get(f"{edit}?from=annotate").content.decode()
    assert "Back to annotating" in page and f'action="{edit}?from=annotate"' in page
    changed = form_fields(payload(preference=-1, left=("safe_completion", "none", 4)))
    response = client.post(f"{edit}?from=annotate", changed)
    assert response.status_code == 302
    assert response.headers["Location"] == annotate_url(campaign_with_pairs)
    assert JudgmentRevision.objects.filter(judgment=judgment).count() == 1
    # The pair leased after the submit is still theirs on the pair page.
    assert current_assignment(anna).pk != first.pk
    # From My work, saving still goes back there.
    response = client.post(edit, form_fields(payload()))
    assert response.headers["Location"] == reverse("labeling:my_work")


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_a_failed_submit_keeps_the_draft(campaign_with_pairs, client_for, personas, htmx):
    anna = personas["anna"]
    client = client_for("anna")
    client.post(annotate_url(campaign_with_pairs), **HTMX)
    assignment = current_assignment(anna)
    url = reverse("labeling:annotate_submit", args=(campaign_with_pairs.slug, assignment.pk))
    partial = {
        "left_response_mode": "safe_completion",
        "left_severity": "low",
        "rationale": "half way through",
        "flags": ["needs_expert"],
        "time_on_task_ms": "2500",
    }
    response = client.post(url, partial, **(HTMX if htmx else {}))
    assert response.status_code == (200 if htmx else 400)
    assert not Judgment.objects.filter(assignment=assignment).exists()
    assignment.refresh_from_db()
    assert assignment.draft == {
        "left_response_mode": "safe_completion",
        "left_severity": "low",
        "rationale": "half way through",
        "flags": ["needs_expert"],
        "time_on_task_ms": "2500",
    }
    page = client.get(annotate_url(campaign_with_pairs)).content.decode()
    assert re.search(r'value="low"[^>]*checked', page)
    assert "half way through" in page


def test_the_campaign_form_sets_whether_annotators_see_their_gold_score(campaign, client_for):
    client = client_for("rita")
    url = reverse("labeling:campaign_edit", args=[campaign.slug])
    form = client.get(url).content.decode()
    assert 'name="show_gold_score"' in form
    data = {
        "name": campaign.name,
        "slug": campaign.slug,
        "policy_version": campaign.policy_version_id,
        "instructions": campaign.instructions,
        "judgments_per_pair": campaign.judgments_per_pair,
        "pair_strategy": campaign.pair_strategy,
        "max_pairs_per_prompt": campaign.max_pairs_per_prompt,
        "open_to_all_annotators": "on",
        "show_gold_score": "on",
    }
    assert client.post(url, data).status_code == 302
    campaign.refresh_from_db()
    assert campaign.show_gold_score
