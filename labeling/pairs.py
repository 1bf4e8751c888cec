"""Pairs: built as candidates arrive, by the campaign's strategy, sides in canonical order."""

from __future__ import annotations

from itertools import combinations

from django.db import transaction

from .models import Campaign, Candidate, Pair, Prompt


def _side_key(candidate: Candidate) -> tuple[str, str]:
    return (candidate.source, candidate.style)


@transaction.atomic
def pairs_build_for_prompt(*, prompt_id: int) -> list[Pair]:
    """Create the pairs the campaign's strategy calls for among a prompt's candidates.

    The prompt row is locked first (SELECT … FOR UPDATE) so two workers that each just stored a
    candidate of the same prompt build pairs one after the other and each sees the other's
    candidate; without it both could miss the pair between their two candidates.
    Returns the pairs created by this call.
    """
    prompt = (
        Prompt.objects.select_for_update()
        .select_related("campaign")
        .only("id", "campaign__pair_strategy", "campaign__max_pairs_per_prompt")
        .get(pk=prompt_id)
    )
    campaign = prompt.campaign
    existing = set(
        Pair.objects.filter(prompt_id=prompt_id).values_list("candidate_a_id", "candidate_b_id")
    )
    room = campaign.max_pairs_per_prompt - len(existing)
    if room <= 0:
        return []
    candidates = list(
        Candidate.objects.filter(prompt_id=prompt_id).only("id", "source", "style").order_by("id")
    )
    new: list[Pair] = []
    for first, second in combinations(candidates, 2):
        if (first.id, second.id) in existing:
            continue
        if campaign.pair_strategy == Campaign.PairStrategy.CROSS_SOURCE and _side_key(
            first
        ) == _side_key(second):
            continue
        new.append(
            Pair(
                prompt_id=prompt_id,
                campaign_id=campaign.pk,
                candidate_a_id=first.id,
                candidate_b_id=second.id,
            )
        )
        if len(new) >= room:
            break
    if new:
        # Candidates are ordered by id, so every pair is already in canonical order (a < b).
        Pair.objects.bulk_create(new, ignore_conflicts=True)
    return new


def pairs_build_for_campaign(*, campaign: Campaign) -> int:
    """Build any missing pairs for every prompt of a campaign (after a strategy change)."""
    created = 0
    prompt_ids = Prompt.objects.filter(campaign=campaign, candidates__isnull=False).distinct()
    for prompt_id in prompt_ids.values_list("id", flat=True).iterator():
        created += len(pairs_build_for_prompt(prompt_id=prompt_id))
    return created


def pair_canonical(first: Candidate, second: Candidate) -> tuple[Candidate, Candidate]:
    """The two candidates in the stored order (lower id first)."""
    return (first, second) if first.id < second.id else (second, first)


def _plan_pairs(
    campaign: Campaign, candidates: list[Candidate], existing: set[tuple[int, int]]
) -> list[tuple[int, int]]:
    room = campaign.max_pairs_per_prompt - len(existing)
    planned: list[tuple[int, int]] = []
    for first, second in combinations(sorted(candidates, key=lambda c: c.id), 2):
        if room <= len(planned):
            break
        if (first.id, second.id) in existing:
            continue
        if campaign.pair_strategy == Campaign.PairStrategy.CROSS_SOURCE and _side_key(
            first
        ) == _side_key(second):
            continue
        planned.append((first.id, second.id))
    return planned


def pairs_build_bulk(*, prompt_ids: list[int], chunk: int = 500) -> int:
    """Build the missing pairs of many prompts with a few queries per chunk (imports)."""
    created = 0
    for start in range(0, len(prompt_ids), chunk):
        ids = prompt_ids[start : start + chunk]
        with transaction.atomic():
            # Same lock as pairs_build_for_prompt, taken for the whole chunk at once.
            prompts = list(
                Prompt.objects.select_for_update()
                .filter(pk__in=ids)
                .select_related("campaign")
                .order_by("id")
            )
            by_prompt: dict[int, list[Candidate]] = {}
            for candidate in Candidate.objects.filter(prompt_id__in=ids).only(
                "id", "prompt_id", "source", "style"
            ):
                by_prompt.setdefault(candidate.prompt_id, []).append(candidate)
            existing: dict[int, set[tuple[int, int]]] = {}
            for prompt_id, first, second in Pair.objects.filter(prompt_id__in=ids).values_list(
                "prompt_id", "candidate_a_id", "candidate_b_id"
            ):
                existing.setdefault(prompt_id, set()).add((first, second))
            new = [
                Pair(
                    prompt_id=prompt.pk,
                    campaign_id=prompt.campaign_id,
                    candidate_a_id=first,
                    candidate_b_id=second,
                )
                for prompt in prompts
                for first, second in _plan_pairs(
                    prompt.campaign, by_prompt.get(prompt.pk, []), existing.get(prompt.pk, set())
                )
            ]
            Pair.objects.bulk_create(new, ignore_conflicts=True, batch_size=1000)
            created += len(new)
    return created
