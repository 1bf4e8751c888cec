"""The policy REST API: every role reads, admins write (403 for everyone else), bad input 400."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from policy.models import Category, PolicyVersion

pytestmark = pytest.mark.django_db

API = "/api/v1/policy"


@pytest.fixture
def api_for(personas: dict[str, User]) -> Callable[[str], APIClient]:
    def _client(name: str) -> APIClient:
        client = APIClient()
        client.force_authenticate(personas[name])
        return client

    return _client


def cat(path: str) -> Category:
    return Category.objects.get(path=path)


@pytest.mark.parametrize("name", ["alice", "rita", "victor", "anna", "ben"])
def test_every_role_reads(seeded: None, api_for: Callable[[str], APIClient], name: str) -> None:
    client = api_for(name)
    categories = client.get(f"{API}/categories/").json()
    assert categories["count"] == 36
    first = categories["results"][0]
    assert set(first) >= {"id", "uid", "path", "parent", "slug", "name", "guidance", "active"}
    assert client.get(f"{API}/categories/{cat('biology').pk}/").json()["path"] == "biology"
    assert client.get(f"{API}/working/").json()["severity_to_safety"]["low"] == 0.5
    versions = client.get(f"{API}/versions/").json()
    assert versions["results"][0]["number"] == 1
    version = client.get(f"{API}/versions/1/").json()
    assert "benign/general" in version["leaf_paths"]
    assert len(version["snapshot"]["categories"]) == 36
    assert client.get(f"{API}/versions/1/diff/1/").json()["is_empty"] is True
    guidance = client.get(f"{API}/versions/1/guidance/", {"path": "benign/general"}).json()
    assert guidance["name"] == "General"
    exported = client.get(f"{API}/export/", {"version": 1, "format": "yaml"})
    assert exported.status_code == 200 and exported["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(exported.content)["policy_version"] == 1


def test_anonymous_and_roleless_are_refused(
    seeded: None, api_for: Callable[[str], APIClient]
) -> None:
    assert APIClient().get(f"{API}/categories/").status_code in {401, 403}
    assert APIClient().get(f"{API}/versions/1/").status_code in {401, 403}
    assert api_for("nobody").get(f"{API}/versions/").status_code == 403


@pytest.mark.parametrize("name", ["rita", "victor", "anna", "nobody"])
def test_non_admins_get_403_on_every_write(
    seeded: None, api_for: Callable[[str], APIClient], working: Callable[[], Any], name: str
) -> None:
    client = api_for(name)
    pk = cat("benign/general").pk
    before = working()
    requests = [
        ("post", f"{API}/categories/", {"slug": "x", "name": "X"}),
        ("patch", f"{API}/categories/{pk}/", {"name": "Hacked"}),
        ("delete", f"{API}/categories/{pk}/", None),
        ("patch", f"{API}/working/", {"rubric": "hacked"}),
        ("post", f"{API}/publish/", {"notes": "x"}),
        ("post", f"{API}/import/", {"categories": []}),
        ("get", f"{API}/export/", None),  # the working copy
        ("get", f"{API}/history/", None),
    ]
    for method, url, data in requests:
        response = getattr(client, method)(url, data, format="json")
        assert response.status_code == 403, (name, method, url, response.status_code)
    assert working() == before
    assert PolicyVersion.objects.count() == 1


def test_admin_edits_publishes_and_diffs(seeded: None, api_for: Callable[[str], APIClient]) -> None:
    client = api_for("alice")
    created = client.post(
        f"{API}/categories/",
        {"parent": "biology", "slug": "lab", "name": "Lab", "guidance": {"high": "No."}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    lab = created.json()
    assert lab["path"] == "biology/lab" and lab["parent"] == "biology"
    moved = client.patch(
        f"{API}/categories/{lab['id']}/",
        {"parent": "chemistry", "name": "Laboratory", "order": 0},
        format="json",
    )
    assert moved.status_code == 200, moved.json()
    assert (moved.json()["path"], moved.json()["name"], moved.json()["order"]) == (
        "chemistry/lab", "Laboratory", 0,
    )  # fmt: skip
    mapping = {"none": 1.0, "negligible": 0.7, "low": 0.5, "moderate": 0.2, "high": 0.0}
    assert (
        client.patch(f"{API}/working/", {"severity_to_safety": mapping}, format="json").status_code
        == 200
    )
    deactivated = client.patch(
        f"{API}/categories/{cat('benign/general').pk}/", {"active": False}, format="json"
    )
    assert deactivated.json()["active"] is False
    refused = client.delete(f"{API}/categories/{cat('benign/general').pk}/")
    assert refused.status_code == 409 and "deactivate" in str(refused.json())
    published = client.post(f"{API}/publish/", {"notes": "via API"}, format="json")
    assert published.status_code == 201 and published.json()["number"] == 2
    diff = client.get(f"{API}/versions/1/diff/2/").json()
    assert diff["categories"]["added"] == ["chemistry/lab"]
    assert diff["categories"]["deactivated"] == ["benign/general"]
    assert diff["severity_to_safety"] == {"negligible": [0.8, 0.7]}
    history = client.get(f"{API}/history/", {"category": str(cat("chemistry/lab").uid)}).json()
    assert [h["action"] for h in history["results"]][::-1] == [
        "created", "renamed", "moved", "reordered",
    ]  # fmt: skip
    draft = client.post(f"{API}/categories/", {"slug": "draft", "name": "Draft"}, format="json")
    assert client.delete(f"{API}/categories/{draft.json()['id']}/").status_code == 204


@pytest.mark.parametrize(
    ("method", "path", "data", "field"),
    [
        ("post", "/categories/", {"parent": "ghost", "slug": "x", "name": "X"}, "parent"),
        ("post", "/categories/", {"parent": "biology", "slug": "weaponization", "name": "X"},
         "slug"),
        ("post", "/categories/", {"slug": "Not A Slug", "name": "X"}, "slug"),
        ("post", "/categories/", {"slug": "x", "name": "n" * 121}, "name"),
        ("post", "/categories/", {"slug": "x"}, "name"),
        ("patch", "/categories/{biology}/", {"parent": "biology/weaponization"}, "parent"),
        ("patch", "/categories/{biology}/", {"name": ""}, "name"),
        ("patch", "/working/", {"severity_to_safety": {"none": 1, "negligible": 0.8, "low": 0.9,
                                                        "moderate": 0.2, "high": 0}},
         "severity_to_safety.low"),
        ("patch", "/working/", {"severity_to_safety": {"none": 1, "negligible": 0.8, "low": 0.5,
                                                        "moderate": 0.2, "high": 7}},
         "severity_to_safety.high"),
        ("post", "/import/", {"categories": [{"slug": "a", "name": "A", "parent": "ghost"}],
                              "severity_to_safety": {"none": 1, "negligible": 1, "low": 1,
                                                     "moderate": 1, "high": 1}},
         "categories[0].parent"),
        ("post", "/import/", {"categorys": []}, "categories"),
    ],
)  # fmt: skip
def test_bad_input_is_400_with_field_and_nothing_changes(
    seeded: None,
    api_for: Callable[[str], APIClient],
    working: Callable[[], Any],
    method: str,
    path: str,
    data: dict,
    field: str,
) -> None:
    before = working()
    url = API + path.format(biology=cat("biology").pk)
    response = getattr(api_for("alice"), method)(url, data, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert all(response.json()[field])
    assert working() == before


def test_import_and_export_round_trip_over_the_api(
    seeded: None, api_for: Callable[[str], APIClient]
) -> None:
    client = api_for("alice")
    exported = client.get(f"{API}/export/", {"version": 1, "format": "json"}).json()
    exported["categories"] = [c for c in exported["categories"] if c["path"].startswith("cyber")]
    result = client.post(f"{API}/import/", exported, format="json")
    assert result.status_code == 200 and result.json()["categories"] == 3
    first = client.get(f"{API}/export/", {"format": "yaml"}).content
    upload = SimpleUploadedFile("policy.yaml", first)
    assert client.post(f"{API}/import/", {"file": upload}, format="multipart").status_code == 200
    assert client.get(f"{API}/export/", {"format": "yaml"}).content == first
    bad = SimpleUploadedFile("policy.yaml", b"categories: [\n")
    response = client.post(f"{API}/import/", {"file": bad}, format="multipart")
    assert response.status_code == 400 and "malformed YAML" in response.json()["file"][0]
    assert client.get(f"{API}/export/", {"format": "xml"}).status_code in {400, 404}
    assert client.get(f"{API}/export/", {"version": 42}).status_code == 404


def test_schema_generates_without_warnings_for_policy_views() -> None:
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    schema = SchemaGenerator(patterns=None).get_schema(request=None, public=True)
    paths = [path for path in schema["paths"] if path.startswith("/api/v1/policy/")]
    assert "/api/v1/policy/versions/{old}/diff/{new}/" in paths
    assert "/api/v1/policy/export/" in paths
    assert len(paths) == 11
    messages = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    assert [m for m in messages if "policy" in m.lower()] == []


def test_a_patch_is_applied_whole_or_not_at_all(
    seeded: None, api_for: Callable[[str], APIClient], working: Callable[[], Any]
) -> None:
    before = working()
    response = api_for("alice").patch(
        f"{API}/categories/{cat('biology').pk}/",
        {"name": "Renamed", "parent": "biology/weaponization"},  # valid name, then a cycle
        format="json",
    )
    assert response.status_code == 400 and "parent" in response.json()
    assert working() == before


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("patch", "/working/", {"severity_to_safety": "high"}),
        ("patch", "/working/", {"severity_to_safety": [1, 2]}),
        ("patch", "/working/", {"levels": [1]}),
        ("patch", "/working/", {"levels": {"severity": "x"}}),
        ("post", "/categories/", {"slug": "x", "name": "X", "guidance": "x"}),
        ("post", "/categories/", {"slug": "x", "name": "X", "examples_acceptable": "x"}),
        ("post", "/categories/", {"slug": ["x"], "name": {"a": 1}}),
        ("post", "/categories/", {"slug": "x", "name": "X", "parent": 5}),
        ("patch", "/categories/{biology}/", {"order": -3}),
        ("patch", "/categories/{biology}/", {"active": "maybe"}),
        ("patch", "/categories/{biology}/", {"guidance": {"high": None}}),
        ("post", "/import/", [1, 2, 3]),
        ("post", "/import/", {"categories": [None, 5, "x", []]}),
        ("post", "/import/", {"categories": [{"slug": 5, "name": None, "parent": [],
                                              "order": 1.5, "uid": "nope"}]}),
        ("post", "/import/", {"categories": [], "severity_to_safety": {"none": True}}),
        ("post", "/publish/", {"notes": ["x"]}),
    ],
)  # fmt: skip
def test_junk_input_is_400_never_500(
    seeded: None,
    api_for: Callable[[str], APIClient],
    working: Callable[[], Any],
    method: str,
    path: str,
    data: Any,
) -> None:
    before = working()
    url = API + path.format(biology=cat("biology").pk)
    response = getattr(api_for("alice"), method)(url, data, format="json")
    assert response.status_code == 400, (response.status_code, response.content)
    assert working() == before


def test_found_by_fuzzing(seeded: None, api_for: Callable[[str], APIClient]) -> None:
    client = api_for("alice")
    huge = client.get(f"{API}/categories/", {"limit": "114288334773788029787599536128"})
    assert huge.status_code == 200 and len(huge.json()["results"]) == 36
    missing = client.get(f"{API}/export/", {"format": "yaml", "version": 0})
    assert missing.status_code == 404
    assert "detail" in yaml.safe_load(missing.content)
