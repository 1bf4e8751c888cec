"""The seeded default policy and the immutability of published versions."""

from __future__ import annotations

import copy

import pytest
from django.core.exceptions import ValidationError

from policy import services
from policy.models import Category, PolicyVersion, WorkingPolicy
from policy.rubric import DEFAULT_SEVERITY_TO_SAFETY
from policy.selectors import latest_version, version_by_number

pytestmark = pytest.mark.django_db

DEFAULT_LEAVES = sorted(
    [
        "biology/weaponization", "biology/high-risk-dual-use", "biology/low-risk-dual-use",
        "chemistry/weapons", "chemistry/dual-use",
        "cybersecurity/malware-intrusion", "cybersecurity/dual-use-security",
        "weapons/conventional", "weapons/explosives",
        "violent-wrongdoing/attack-planning", "violent-wrongdoing/threats",
        "nonviolent-wrongdoing/fraud-scams", "nonviolent-wrongdoing/theft-evasion",
        "nonviolent-wrongdoing/drugs",
        "hate-harassment/hate", "hate-harassment/harassment", "hate-harassment/extremism",
        "self-harm/intent", "self-harm/instructions",
        "sexual-content/adult", "sexual-content/exploitative", "sexual-content/minors",
        "personal-data/public-figures", "personal-data/private-individuals",
        "benign/general",
    ]
)  # fmt: skip


def test_fresh_install_has_version_1_with_the_default_taxonomy(seeded: None) -> None:
    version = PolicyVersion.objects.get(number=1)
    assert version.leaf_paths() == DEFAULT_LEAVES
    assert version.severity_to_safety == DEFAULT_SEVERITY_TO_SAFETY
    assert "How to judge a pair" in version.rubric
    assert set(version.levels) == {"severity", "helpfulness", "response_mode", "intent"}
    assert latest_version() == version == version_by_number(1)
    # Every category carries the snapshot contract's keys.
    entry = next(c for c in version.snapshot["categories"] if c["path"] == "biology/weaponization")
    assert entry["parent"] == "biology"
    assert set(entry) >= {
        "path", "parent", "slug", "name", "description", "guidance", "examples_acceptable",
        "examples_unacceptable", "active", "order",
    }  # fmt: skip
    assert set(entry["guidance"]) == {"none", "negligible", "low", "moderate", "high"}
    # The working copy matches what was published.
    assert Category.objects.count() == len(version.snapshot["categories"]) == 36
    assert WorkingPolicy.objects.get().severity_to_safety == DEFAULT_SEVERITY_TO_SAFETY


def test_a_published_version_can_never_change(seeded: None) -> None:
    version = PolicyVersion.objects.get(number=1)
    version.notes = "tampered"
    with pytest.raises(ValidationError):
        version.save()
    with pytest.raises(ValidationError):
        version.delete()
    with pytest.raises(ValidationError):
        PolicyVersion.objects.filter(number=1).update(notes="tampered")
    with pytest.raises(ValidationError):
        PolicyVersion.objects.filter(number=1).delete()
    assert PolicyVersion.objects.get(number=1).notes != "tampered"


def test_published_snapshot_is_unchanged_after_later_edits(seeded: None, personas: dict) -> None:
    alice = personas["alice"]
    before = copy.deepcopy(PolicyVersion.objects.get(number=1).snapshot)
    biology = Category.objects.get(path="biology")
    services.category_update(user=alice, category=biology, name="Life sciences", slug="bio")
    services.category_update(
        user=alice,
        category=Category.objects.get(path="bio/weaponization"),
        guidance={"high": "Never."},
    )
    services.category_set_active(
        user=alice, category=Category.objects.get(path="benign/general"), active=False
    )
    services.working_policy_update(
        user=alice, severity_to_safety={**DEFAULT_SEVERITY_TO_SAFETY, "low": 0.4}
    )
    v2 = services.policy_publish(user=alice, notes="second")
    assert v2.number == 2
    assert PolicyVersion.objects.get(number=1).snapshot == before
    assert "bio/weaponization" in v2.leaf_paths()
    assert "benign/general" not in v2.leaf_paths()
    assert v2.severity_to_safety["low"] == 0.4
    assert v2.published_by == alice
