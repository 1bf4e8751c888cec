"""Who may use exports: the UI, the API and downloads, for every role and for anonymous users."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from exports import services
from exports.models import Export
from labeling.models import Campaign
from policy.models import PolicyVersion

pytestmark = pytest.mark.django_db

ALLOWED = {"alice", "rita"}
EVERYONE = ("alice", "rita", "victor", "anna", "ben", "nobody")


@pytest.fixture
def done_export(hand: dict[str, Any], personas: dict[str, Any]) -> Export:
    export = services.export_create(
        user=personas["rita"],
        data={"format": "trl-preference", "campaigns": ["hand"]},
        enqueue=False,
    )
    return services.export_run(export_id=export.id)


def urls(export: Export) -> list[tuple[str, str]]:
    return [
        ("get", "/exports/"),
        ("get", "/exports/new/"),
        ("get", f"/exports/{export.id}/"),
        ("get", f"/exports/{export.id}/download/"),
        ("get", "/api/v1/exports/"),
        ("get", f"/api/v1/exports/{export.id}/"),
        ("get", f"/api/v1/exports/{export.id}/download/"),
    ]


@pytest.mark.parametrize("name", EVERYONE)
def test_role_matrix(name: str, done_export: Export, client_for: Any) -> None:
    client = client_for(name)
    for method, url in urls(done_export):
        response = getattr(client, method)(url)
        expected = 200 if name in ALLOWED else 403
        assert response.status_code == expected, (name, url, response.status_code)


def test_anonymous_is_sent_to_log_in(done_export: Export) -> None:
    client = Client()
    for _method, url in urls(done_export):
        response = client.get(url)
        if url.startswith("/api/"):
            assert response.status_code in (401, 403), url
        else:
            assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.post("/api/v1/exports/", {}).status_code in (401, 403)


def test_researchers_see_only_their_own(
    done_export: Export, client_for: Any, personas: dict[str, Any]
) -> None:
    from django.contrib.auth.models import Group, User

    other = User.objects.create_user("rhea", password="x" * 20)
    other.groups.set(Group.objects.filter(name="researcher"))
    client = Client()
    client.force_login(other)
    assert client.get(f"/exports/{done_export.id}/").status_code == 404
    assert client.get(f"/exports/{done_export.id}/download/").status_code == 404
    assert client.get(f"/api/v1/exports/{done_export.id}/download/").status_code == 404
    assert client.get("/api/v1/exports/").json()["count"] == 0
    assert str(done_export.id) not in client.get("/exports/").content.decode()
    # The admin sees everyone's.
    assert client_for("alice").get("/api/v1/exports/").json()["count"] == 1


def test_download_never_takes_a_path(done_export: Export, client_for: Any) -> None:
    client = client_for("rita")
    assert client.get("/exports/../../etc/passwd/download/").status_code == 404
    assert client.get("/api/v1/exports/not-a-uuid/download/").status_code == 404
    response = client.get(f"/exports/{done_export.id}/download/")
    assert response["Content-Disposition"].startswith("attachment;")
    assert done_export.archive_name in response["Content-Disposition"]


def test_unfinished_export_has_no_download(hand: dict[str, Any], client_for: Any) -> None:
    client = client_for("rita")
    response = client.post(
        "/api/v1/exports/",
        {"format": "reward", "campaigns": ["hand"]},
        content_type="application/json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "queued" and body["download_url"] is None
    assert client.get(f"/api/v1/exports/{body['id']}/download/").status_code == 404


def test_api_rejects_bad_input(hand: dict[str, Any], client_for: Any) -> None:
    client = client_for("rita")
    for payload, field in [
        ({"format": "nope", "campaigns": ["hand"]}, "format"),
        ({"format": "reward", "campaigns": ["missing"]}, "campaigns"),
        ({"format": "reward", "campaigns": []}, "campaigns"),
        (
            {
                "format": "reward",
                "campaigns": ["hand"],
                "split_ratios": {"train": 0.5, "validation": 0.1, "test": 0.1},
            },
            "split_ratios",
        ),
        ({"format": "reward", "campaigns": ["hand"], "min_agreement": 2}, "min_agreement"),
        ({"format": "reward", "campaigns": ["hand"], "intents": ["evil"]}, "intents"),
    ]:
        response = client.post("/api/v1/exports/", payload, content_type="application/json")
        assert response.status_code == 400, payload
        assert field in response.json(), response.json()
    assert Export.objects.count() == 0


def test_api_preview_counts(hand: dict[str, Any], client_for: Any) -> None:
    response = client_for("rita").post(
        "/api/v1/exports/preview/",
        {"format": "trl-preference", "campaigns": ["hand"], "min_judgments": 2},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["pairs_considered"] == 6
    assert body["left_out"]["tie"] == 1
    assert body["left_out"]["too_few_judgments"] == 1
    assert body["left_out"]["discarded_by_review"] == 1
    assert body["rows"] == 3
    assert client_for("anna").post("/api/v1/exports/preview/", {}).status_code == 403


def test_ui_new_export_preview_and_create(hand: dict[str, Any], client_for: Any) -> None:
    client = client_for("rita")
    page = client.get("/exports/new/?campaign=hand")
    assert page.status_code == 200
    assert 'value="hand"' in page.content.decode()
    form = {
        "format": "trl-preference",
        "campaigns": ["hand"],
        "min_judgments": 1,
        "min_agreement": 0,
        "label_sources": ["raw", "review"],
        "preference_source": "human",
        "min_margin": 0,
        "sft_threshold": 0.66,
        "kto_threshold": 0.5,
        "train": 0.9,
        "validation": 0.05,
        "test": 0.05,
        "seed": 1,
        "pseudonymise_annotators": "on",
        "archive_format": "tar.gz",
    }
    preview = client.post("/exports/preview/", form, HTTP_HX_REQUEST="true")
    text = preview.content.decode()
    assert preview.status_code == 200
    assert 'id="preview"' in text and "<html" not in text
    assert "<strong>4</strong> of 6 pairs qualify" in text
    bad = client.post("/exports/preview/", {**form, "train": 0.2}, HTTP_HX_REQUEST="true")
    assert "must add up to 1" in bad.content.decode()
    created = client.post("/exports/new/", form)
    assert created.status_code == 302
    export = Export.objects.get()
    assert created["Location"] == f"/exports/{export.id}/"
    assert export.status == "queued" and export.spec["seed"] == 1
    status = client.get(f"/exports/{export.id}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="export-status"' in status and 'hx-trigger="every 1s"' in status
    assert "<html" not in status


def test_failed_export_page_says_why(
    hand: dict[str, Any], client_for: Any, personas: dict[str, Any]
) -> None:
    export = services.export_create(
        user=personas["rita"], data={"format": "reward", "campaigns": ["hand"]}, enqueue=False
    )
    Export.objects.filter(pk=export.pk).update(status="failed", error="disk full <b>")
    page = client_for("rita").get(f"/exports/{export.id}/").content.decode()
    assert "failed and left no file: disk full &lt;b&gt;" in page
    assert "Download" not in page


def test_api_preview_filtered_by_policy_version(hand: dict[str, Any], client_for: Any) -> None:
    """Judgments made under another policy version are left out (found by the API fuzzer)."""
    campaign = Campaign.objects.get(slug="hand")
    number = campaign.policy_version.number

    def preview(version: int) -> dict[str, Any]:
        response = client_for("rita").post(
            "/api/v1/exports/preview/",
            {"format": "trl-preference", "campaigns": ["hand"], "policy_version": version},
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        return response.json()

    later = PolicyVersion.objects.create(
        number=PolicyVersion.objects.order_by("-number").first().number + 1,  # type: ignore[union-attr]
        snapshot=campaign.policy_version.snapshot,
    )
    same = preview(number)
    other = preview(later.number)
    assert (same["rows"], other["rows"]) == (4, 1)  # under v2 only the reviewed pair remains


@pytest.mark.parametrize("export_format", ["judgments", "judgments-csv"])
def test_raw_judgments_preview_by_policy_version_and_date(
    hand: dict[str, Any], client_for: Any, export_format: str
) -> None:
    """The detailed judgment columns join cleanly under every filter (found by the fuzzer)."""
    number = Campaign.objects.get(slug="hand").policy_version.number
    response = client_for("rita").post(
        "/api/v1/exports/preview/",
        {
            "format": export_format,
            "campaigns": ["hand"],
            "policy_version": number,
            "date_from": "2000-01-01",
        },
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["pairs_considered"] == 6
