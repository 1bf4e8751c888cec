from labeling.models import Candidate, Pair, Prompt


def test_campaign_with_pairs(campaign_with_pairs):
    assert Prompt.objects.filter(campaign=campaign_with_pairs).count() == 4
    assert Candidate.objects.filter(prompt__campaign=campaign_with_pairs).count() == 12
    pairs = Pair.objects.filter(prompt__campaign=campaign_with_pairs)
    assert pairs.count() == 12
    assert all(p.candidate_a_id < p.candidate_b_id for p in pairs)
