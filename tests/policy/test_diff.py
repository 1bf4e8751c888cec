"""The diff between two versions lists exactly the changes made."""

from __future__ import annotations

import pytest

from policy import services
from policy.models import Category
from policy.rubric import DEFAULT_SEVERITY_TO_SAFETY
from policy.selectors import export_for, version_diff

pytestmark = pytest.mark.django_db


def cat(path: str) -> Category:
    return Category.objects.get(path=path)


def test_diff_of_two_versions_lists_exactly_the_changes(seeded: None, personas: dict) -> None:
    alice = personas["alice"]
    services.category_create(user=alice, parent=cat("biology"), slug="lab-safety", name="Lab")
    services.category_update(user=alice, category=cat("weapons"), name="Arms")  # renamed
    services.category_update(user=alice, category=cat("chemistry/dual-use"), slug="dual")
    services.category_move(user=alice, category=cat("benign/general"), parent=cat("self-harm"))
    guidance = cat("self-harm/instructions").guidance
    services.category_update(
        user=alice,
        category=cat("self-harm/instructions"),
        guidance={**guidance, "low": "Any hint.", "high": "Never."},
    )
    services.category_update(
        user=alice, category=cat("personal-data/public-figures"), description="Politicians."
    )
    services.category_set_active(user=alice, category=cat("sexual-content/adult"), active=False)
    services.working_policy_update(
        user=alice, severity_to_safety={**DEFAULT_SEVERITY_TO_SAFETY, "low": 0.4}
    )
    services.policy_publish(user=alice, notes="v2")
    # Only an import can remove a published category from the working taxonomy.
    document = export_for(None)
    document["categories"] = [
        c for c in document["categories"] if c["path"] != "biology/lab-safety"
    ]
    services.policy_import(user=alice, document=document)
    services.policy_publish(user=alice, notes="v3")

    diff = version_diff(1, 2)
    changes = diff["categories"]
    assert changes["added"] == ["biology/lab-safety"]
    assert changes["removed"] == []
    assert changes["moved"] == [
        {"path": "self-harm/general", "from": "benign/general", "to": "self-harm/general",
         "from_parent": "benign", "to_parent": "self-harm"},
    ]  # fmt: skip
    assert [(r["path"], r["from_name"], r["to_name"], r["from_slug"], r["to_slug"])
            for r in changes["renamed"]] == [
        ("chemistry/dual", "Dual use", "Dual use", "dual-use", "dual"),
        ("weapons", "Weapons", "Arms", "weapons", "weapons"),
    ]  # fmt: skip
    assert changes["guidance_changed"] == [
        {"path": "self-harm/instructions", "levels": ["low", "high"]}
    ]
    assert changes["edited"] == [
        {"path": "personal-data/public-figures", "fields": ["description"]}
    ]
    assert changes["deactivated"] == ["sexual-content/adult"]
    assert changes["activated"] == []
    # Moving general out of benign reorders nothing: it goes to the end of self-harm.
    assert changes["reordered"] == []
    assert diff["severity_to_safety"] == {"low": [0.5, 0.4]}
    assert diff["rubric_changed"] is False
    assert diff["levels_changed"] == []
    assert diff["is_empty"] is False

    later = version_diff(2, 3)
    assert later["categories"]["removed"] == ["biology/lab-safety"]
    assert sum(len(v) for v in later["categories"].values()) == 1
    assert later["severity_to_safety"] == {}
    assert version_diff(3, 3)["is_empty"] is True


def test_reorder_and_rubric_and_levels_in_the_diff(seeded: None, personas: dict) -> None:
    alice = personas["alice"]
    services.category_reorder(user=alice, category=cat("benign"), position=0)
    services.working_policy_update(
        user=alice, rubric="New rubric", levels={"helpfulness": {"4": "Great."}}
    )
    services.policy_publish(user=alice, notes="")
    diff = version_diff(1, 2)
    reordered = {
        item["path"]: (item["from"], item["to"]) for item in diff["categories"]["reordered"]
    }
    assert reordered["benign"] == (10, 0)
    assert reordered["biology"] == (0, 1)
    assert diff["rubric_changed"] is True
    assert diff["levels_changed"] == ["helpfulness.4"]
