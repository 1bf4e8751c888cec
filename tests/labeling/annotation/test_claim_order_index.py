"""The claim walks one campaign's pairs along an index that leads with the campaign: every way
of making pairs records the prompt's campaign on the pair, and PostgreSQL's plan for the
claim reads ``pair_claim_order`` with the campaign (and the kind of pair) as its condition."""

from __future__ import annotations

import json

from django.db import connection
from django.utils import timezone

from labeling.annotation.claim import postgres as statements
from labeling.campaigns.services import campaign_create
from labeling.models import Candidate, Pair, Prompt
from labeling.pairs import pairs_build_bulk, pairs_build_for_prompt

from .conftest import build_pairs


def _prompt_with_candidates(campaign, name: str, count: int = 3) -> Prompt:
    prompt = Prompt.objects.create(
        campaign=campaign,
        messages=[{"role": "user", "content": f"{name}?"}],
        category_path="biology/low-risk-dual-use",
        intent="dual_use",
        external_id=name,
        content_hash=name,
    )
    for index in range(count):
        Candidate.objects.create(
            prompt=prompt, text=f"{name} answer {index}", source=f"model-{index}",
            idempotency_key=f"{name}-{index}",
        )  # fmt: skip
    return prompt


def test_every_way_of_making_pairs_records_the_prompts_campaign(campaign, policy_version):
    other = campaign_create(name="Other", slug="other", policy_version=policy_version)
    one = _prompt_with_candidates(campaign, "one")
    two = _prompt_with_candidates(other, "two")
    three = _prompt_with_candidates(other, "three", count=2)
    assert pairs_build_for_prompt(prompt_id=one.pk)
    assert pairs_build_bulk(prompt_ids=[two.pk])
    first, second = three.candidates.order_by("id")
    Pair.objects.create(prompt=three, candidate_a=first, candidate_b=second)
    build_pairs(campaign, 2)
    pairs = Pair.objects.select_related("prompt")
    assert pairs.count() == 3 + 3 + 1 + 2
    assert all(pair.campaign_id == pair.prompt.campaign_id for pair in pairs)


def test_the_claim_reads_the_campaign_order_index(campaign, personas):
    build_pairs(campaign, 20, gold=2)
    parameters = statements._parameters(
        campaign=campaign, annotator=personas["anna"], now=timezone.now(), gold_first=False
    )
    sql = statements.statement(daily_cap=False, kinds=1)
    with connection.cursor() as cursor:
        # A handful of rows reads fastest without an index; the plan asked for here is the
        # one PostgreSQL takes at size.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", parameters)
        plan = json.dumps(cursor.fetchone()[0])
    assert '"Index Name": "pair_claim_order"' in plan, plan
    scan = plan[plan.index('"Index Name": "pair_claim_order"') :]
    condition = scan[scan.index('"Index Cond"') : scan.index('"Index Cond"') + 120]
    assert "campaign_id" in condition and "is_gold" in condition, condition
