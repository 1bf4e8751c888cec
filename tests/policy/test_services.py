"""Editing the working taxonomy: every operation, its history, and bad input changing nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from policy import services
from policy.document import PolicyError
from policy.models import Category, PolicyChange, PolicyVersion
from policy.rubric import DEFAULT_SEVERITY_TO_SAFETY
from policy.selectors import category_history

pytestmark = pytest.mark.django_db


def cat(path: str) -> Category:
    return Category.objects.get(path=path)


def fields_of(error: pytest.ExceptionInfo[PolicyError]) -> list[str]:
    return [field for field, _ in error.value.errors]


def test_add_rename_move_reorder_deactivate_with_history(seeded: None, personas: dict) -> None:
    alice = personas["alice"]
    new = services.category_create(
        user=alice, parent=cat("biology"), slug="lab-safety", name="Lab safety"
    )
    assert new.path == "biology/lab-safety"
    assert new.order == 3  # after the three default leaves

    # Renaming the slug of an area rewrites the paths of its whole subtree.
    services.category_update(user=alice, category=cat("biology"), slug="bio", name="Bio")
    assert cat("bio/lab-safety").uid == new.uid
    assert not Category.objects.filter(path__startswith="biology").exists()

    services.category_move(user=alice, category=cat("bio/lab-safety"), parent=cat("chemistry"))
    moved = cat("chemistry/lab-safety")
    assert moved.parent == cat("chemistry") and moved.order == 2

    services.category_reorder(user=alice, category=moved, position=0)
    assert [c.slug for c in cat("chemistry").children.order_by("order")] == [
        "lab-safety", "weapons", "dual-use",
    ]  # fmt: skip

    # Deactivating an area deactivates everything under it.
    services.category_set_active(user=alice, category=cat("chemistry"), active=False)
    assert not Category.objects.filter(path__startswith="chemistry", active=True).exists()
    with pytest.raises(PolicyError) as error:
        services.category_set_active(user=alice, category=moved, active=True)
    assert fields_of(error) == ["active"]

    history = list(category_history(cat("chemistry/lab-safety")))
    assert [h.action for h in reversed(history)] == [
        "created", "moved", "reordered", "deactivated",
    ]  # fmt: skip
    assert all(h.user == alice for h in history)
    assert history[-2].changes == {
        "parent": ["bio", "chemistry"], "path": ["bio/lab-safety", "chemistry/lab-safety"],
    }  # fmt: skip
    renamed = PolicyChange.objects.get(category_uid=cat("bio").uid, action="renamed")
    assert renamed.changes["slug"] == ["biology", "bio"]
    assert renamed.changes["name"] == ["Biology", "Bio"]


def test_move_to_top_level_and_back(seeded: None, personas: dict) -> None:
    alice = personas["alice"]
    services.category_move(user=alice, category=cat("benign/general"), parent=None)
    assert cat("general").parent is None
    services.category_move(user=alice, category=cat("general"), parent=cat("benign"))
    assert cat("benign/general").parent == cat("benign")


def test_published_category_is_deactivated_never_deleted(seeded: None, personas: dict) -> None:
    alice = personas["alice"]
    with pytest.raises(PolicyError) as error:
        services.category_delete(user=alice, category=cat("benign/general"))
    assert "deactivate it instead" in error.value.errors[0][1]
    with pytest.raises(PolicyError):
        services.category_delete(user=alice, category=cat("benign"))  # has children
    draft = services.category_create(user=alice, parent=cat("benign"), slug="draft", name="Draft")
    services.category_delete(user=alice, category=draft)
    assert not Category.objects.filter(path="benign/draft").exists()
    assert PolicyChange.objects.filter(category_uid=draft.uid, action="deleted").exists()


@pytest.mark.parametrize(
    ("call", "field"),
    [
        # a category moved under its own descendant
        (
            lambda u: services.category_move(
                user=u, category=cat("biology"), parent=cat("biology/weaponization")
            ),
            "parent",
        ),
        (
            lambda u: services.category_move(
                user=u, category=cat("biology"), parent=cat("biology")
            ),
            "parent",
        ),
        # duplicate slugs among siblings: by create, rename and move
        (
            lambda u: services.category_create(
                user=u, parent=cat("biology"), slug="weaponization", name="Again"
            ),
            "slug",
        ),
        (
            lambda u: services.category_update(
                user=u, category=cat("biology/weaponization"), slug="low-risk-dual-use"
            ),
            "slug",
        ),
        (
            lambda u: services.category_move(
                user=u, category=cat("chemistry/weapons"), parent=None
            ),
            "slug",
        ),
        (
            lambda u: services.category_create(user=u, parent=None, slug="biology", name="Twice"),
            "slug",
        ),
        # empty or over-long names
        (lambda u: services.category_create(user=u, parent=None, slug="x", name="   "), "name"),
        (lambda u: services.category_create(user=u, parent=None, slug="x", name="n" * 121), "name"),
        (lambda u: services.category_update(user=u, category=cat("biology"), name=""), "name"),
        # invalid slugs
        (
            lambda u: services.category_create(user=u, parent=None, slug="Has Space", name="X"),
            "slug",
        ),
        (lambda u: services.category_create(user=u, parent=None, slug="a/b", name="X"), "slug"),
        (lambda u: services.category_create(user=u, parent=None, slug="-x", name="X"), "slug"),
        (lambda u: services.category_create(user=u, parent=None, slug="s" * 65, name="X"), "slug"),
        # guidance for an unknown level
        (
            lambda u: services.category_update(
                user=u, category=cat("biology"), guidance={"extreme": "x"}
            ),
            "guidance.extreme",
        ),
    ],
)
def test_bad_edits_change_nothing(
    seeded: None, personas: dict, working: Callable[[], Any], call: Any, field: str
) -> None:
    before = working()
    changes = PolicyChange.objects.count()
    with pytest.raises(PolicyError) as error:
        call(personas["alice"])
    assert field in fields_of(error)
    assert all(reason for _, reason in error.value.errors)
    assert working() == before
    assert PolicyChange.objects.count() == changes


@pytest.mark.parametrize(
    ("mapping", "field"),
    [
        ({**DEFAULT_SEVERITY_TO_SAFETY, "low": 1.5}, "severity_to_safety.low"),
        ({**DEFAULT_SEVERITY_TO_SAFETY, "high": -0.1}, "severity_to_safety.high"),
        ({**DEFAULT_SEVERITY_TO_SAFETY, "none": 0.9}, "severity_to_safety.none"),
        ({**DEFAULT_SEVERITY_TO_SAFETY, "moderate": 0.6}, "severity_to_safety.moderate"),
        ({**DEFAULT_SEVERITY_TO_SAFETY, "low": "half"}, "severity_to_safety.low"),
        (
            {k: v for k, v in DEFAULT_SEVERITY_TO_SAFETY.items() if k != "high"},
            "severity_to_safety.high",
        ),
        ({**DEFAULT_SEVERITY_TO_SAFETY, "extreme": 0.0}, "severity_to_safety.extreme"),
    ],
)
def test_bad_mapping_changes_nothing(
    seeded: None, personas: dict, working: Callable[[], Any], mapping: dict, field: str
) -> None:
    before = working()
    with pytest.raises(PolicyError) as error:
        services.working_policy_update(user=personas["alice"], severity_to_safety=mapping)
    assert field in fields_of(error)
    assert working() == before


def test_mapping_edit_is_recorded(seeded: None, personas: dict) -> None:
    services.working_policy_update(
        user=personas["alice"],
        severity_to_safety={**DEFAULT_SEVERITY_TO_SAFETY, "low": 0.5, "negligible": 0.9},
    )
    change = PolicyChange.objects.get(action="mapping")
    assert change.changes == {"negligible": [0.8, 0.9]}


def test_publishing_with_no_active_category_is_refused(seeded: None, personas: dict) -> None:
    alice = personas["alice"]
    for root in Category.objects.filter(parent=None):
        services.category_set_active(user=alice, category=root, active=False)
    with pytest.raises(PolicyError) as error:
        services.policy_publish(user=alice, notes="empty")
    assert fields_of(error) == ["categories"]
    assert PolicyVersion.objects.count() == 1


def test_publish_numbers_versions_and_records_history(seeded: None, personas: dict) -> None:
    alice = personas["alice"]
    assert services.policy_publish(user=alice, notes="a").number == 2
    assert services.policy_publish(user=alice, notes="b").number == 3
    assert PolicyChange.objects.filter(action="published").count() == 2
