"""Campaign, import, endpoint and run pages and API: roles, counts, errors, secrets."""

from __future__ import annotations

import io
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from labeling.campaigns.services import campaign_update
from labeling.generation import endpoints, executor, runs
from labeling.generation.styles import BUILT_IN
from labeling.models import Campaign, GenerationRun, Prompt
from tests.conftest import wait_until

SECRET = "sk-test-secret-value-0123456789"


def test_campaign_list_counts_without_n_plus_one(
    campaign_with_pairs, client_for, django_assert_max_num_queries, policy_version
):
    from labeling.campaigns.services import campaign_create

    for i in range(5):
        campaign_create(name=f"Extra {i}", policy_version=policy_version)
    client = client_for("rita")
    with django_assert_max_num_queries(8):
        response = client.get(reverse("labeling:campaign_list"))
    assert response.status_code == 200
    row = next(c for c in response.context["campaigns"] if c.pk == campaign_with_pairs.pk)
    assert (row.prompt_count, row.candidate_count, row.pair_count) == (4, 12, 12)


@pytest.mark.parametrize(
    ("who", "code"),
    [("rita", 200), ("alice", 200), ("anna", 403), ("victor", 403), ("nobody", 403)],
)
def test_campaign_pages_roles(campaign, client_for, who, code):
    client = client_for(who)
    for url in (
        reverse("labeling:campaign_list"),
        reverse("labeling:campaign_detail", args=[campaign.slug]),
        reverse("labeling:run_create", args=[campaign.slug]),
    ):
        assert client.get(url).status_code == code


def test_create_open_close_campaign(client_for, policy_version):
    client = client_for("rita")
    response = client.post(
        reverse("labeling:campaign_create"),
        {
            "name": "Bio",
            "slug": "bio",
            "policy_version": policy_version.pk,
            "instructions": "<script>x</script> **hi**",
            "judgments_per_pair": 3,
            "pair_strategy": "cross_source",
            "max_pairs_per_prompt": 10,
            "open_to_all_annotators": "on",
        },
    )
    assert response.status_code == 302
    campaign = Campaign.objects.get(slug="bio")
    assert campaign.status == "draft"
    page = client.get(reverse("labeling:campaign_detail", args=["bio"])).content.decode()
    assert "<script>x</script>" not in page
    client.post(reverse("labeling:campaign_status", args=["bio"]), {"status": "open"})
    campaign.refresh_from_db()
    assert campaign.status == "open"
    client.post(reverse("labeling:campaign_status", args=["bio"]), {"status": "closed"})
    campaign.refresh_from_db()
    assert campaign.status == "closed"


def test_upload_bad_file_lists_every_line(campaign, client_for):
    client = client_for("rita")
    upload = SimpleUploadedFile(
        "p.jsonl",
        b'{"prompt": "ok", "category": "benign/general", "intent": "benign"}\n'
        b'nope\n{"prompt": ""}\n',
    )
    response = client.post(
        reverse("labeling:campaign_import_prompts", args=[campaign.slug]), {"file": upload}
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "Nothing was imported" in text and "malformed JSON" in text
    assert Prompt.objects.count() == 0
    upload = SimpleUploadedFile(
        "p.csv", b"prompt,category,intent\nHello there,benign/general,benign\n"
    )
    response = client.post(
        reverse("labeling:campaign_import_prompts", args=[campaign.slug]), {"file": upload}
    )
    assert response.status_code == 302 and Prompt.objects.count() == 1


def test_endpoints_admin_only(client_for, offline_server):
    endpoint = endpoints.endpoint_create(
        name="offline", base_url=offline_server.base_url, model="graylab-offline"
    )
    for who in ("rita", "anna", "victor"):
        assert client_for(who).get(reverse("labeling:endpoint_list")).status_code == 403
        assert client_for(who).get("/api/v1/endpoints/").status_code == 403
    admin = client_for("alice")
    assert admin.get(reverse("labeling:endpoint_list")).status_code == 200
    response = admin.post(
        reverse("labeling:endpoint_test", args=[endpoint.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and "graylab-offline" in response.content.decode()


def test_key_given_instead_of_variable_name_is_refused(client_for):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        endpoints.endpoint_create(
            name="x", base_url="http://127.0.0.1:1/v1", model="m", api_key_env=SECRET
        )


@pytest.mark.worker
def test_api_key_never_leaves_the_environment(
    campaign, client_for, celery_worker, offline_server, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("GRAYLAB_ENDPOINT_TEST_KEY", SECRET)
    endpoint = endpoints.endpoint_create(
        name="keyed",
        base_url=offline_server.base_url,
        model="m",
        api_key_env="GRAYLAB_ENDPOINT_TEST_KEY",
    )
    offline_server.configure(rate_500=0.5, seed=2)
    monkeypatch.setattr(executor, "BACKOFF_BASE_SECONDS", 0.02)
    monkeypatch.setattr(executor, "MAX_ATTEMPTS", 2)
    admin, rita = client_for("alice"), client_for("rita")
    api = admin.post(
        "/api/v1/campaigns/test-campaign/prompts/import/",
        {
            "file": io.BytesIO(b'{"prompt": "one"}\n{"prompt": "two"}\n{"prompt": "three"}\n'),
            "default_category": "benign/general",
            "default_intent": "benign",
        },
    )
    api.content  # noqa: B018
    response = rita.post(
        "/api/v1/generation-runs/",
        {"campaign": campaign.slug, "endpoints": ["keyed"], "styles": [{"name": "refusal-style"}]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    run_id = response.json()["id"]

    def finished():
        runs.run_recover(run_id=run_id)
        return GenerationRun.objects.get(pk=run_id).status not in ("queued", "running")

    wait_until(finished, timeout=60)
    bodies = [
        admin.get(reverse("labeling:endpoint_list")).content,
        admin.get(reverse("labeling:endpoint_edit", args=[endpoint.pk])).content,
        admin.post(reverse("labeling:endpoint_test", args=[endpoint.pk])).content,
        admin.get(reverse("labeling:run_detail", args=[run_id])).content,
        rita.get(reverse("labeling:run_detail", args=[run_id])).content,
        admin.get("/api/v1/endpoints/").content,
        rita.get(f"/api/v1/generation-runs/{run_id}/").content,
        rita.get("/api/v1/generation-runs/").content,
    ]
    for body in bodies:
        assert SECRET.encode() not in body
    assert b"GRAYLAB_ENDPOINT_TEST_KEY" in bodies[0]
    assert SECRET not in caplog.text


def test_api_campaign_and_import_errors(client_for, policy_version):
    rita = client_for("rita")
    response = rita.post(
        "/api/v1/campaigns/",
        {"name": "API", "slug": "api", "open": True},
        content_type="application/json",
    )
    assert response.status_code == 201 and response.json()["status"] == "open"
    bad = rita.post(
        "/api/v1/campaigns/api/prompts/import/", {"file": SimpleUploadedFile("x.jsonl", b"{bad\n")}
    )
    assert bad.status_code == 400 and bad.json()["problems"][0]["line"] == 1
    assert client_for("anna").get("/api/v1/campaigns/").status_code == 403
    listing = rita.get("/api/v1/campaigns/").json()
    assert listing[0]["prompt_count"] == 0


def test_run_page_polls_progress(campaign, client_for, offline_server):
    endpoint = endpoints.endpoint_create(
        name="offline", base_url=offline_server.base_url, model="m"
    )
    run = runs.run_create(
        campaign=campaign, endpoints=[endpoint], styles=[BUILT_IN["refusal-style"]]
    )
    client = client_for("rita")
    page = client.get(reverse("labeling:run_detail", args=[run.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in page
    partial = client.get(
        reverse("labeling:run_detail", args=[run.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert partial.strip().startswith('<section id="run-progress"')


@pytest.mark.django_db
def test_settings_change_from_a_stale_instance_keeps_the_routing_stamp(campaign):
    """A settings save writes only the changed columns, so the recompute's stamp survives."""
    stale = Campaign.objects.get(pk=campaign.pk)
    stamped = timezone.now()
    Campaign.objects.filter(pk=campaign.pk).update(routed_at=stamped)
    campaign_update(campaign=stale, name="Renamed")
    fresh = Campaign.objects.get(pk=campaign.pk)
    assert fresh.name == "Renamed"
    assert fresh.routed_at == stamped


def test_api_reads_and_writes_show_gold_score(client_for, policy_version):
    rita = client_for("rita")
    created = rita.post(
        "/api/v1/campaigns/",
        {"name": "Gold", "slug": "gold", "show_gold_score": True},
        content_type="application/json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["show_gold_score"] is True
    assert Campaign.objects.get(slug="gold").show_gold_score is True

    changed = rita.patch(
        "/api/v1/campaigns/gold/", {"show_gold_score": False}, content_type="application/json"
    )
    assert changed.status_code == 200 and changed.json()["show_gold_score"] is False
    assert rita.get("/api/v1/campaigns/gold/").json()["show_gold_score"] is False
    assert rita.get("/api/v1/campaigns/").json()[0]["show_gold_score"] is False

    refused = rita.patch(
        "/api/v1/campaigns/gold/",
        {"show_gold_score": "sometimes", "name": "Renamed"},
        content_type="application/json",
    )
    assert refused.status_code == 400 and list(refused.json()) == ["show_gold_score"]
    assert Campaign.objects.get(slug="gold").name == "Gold"

    schemas = rita.get("/api/schema/?format=json").json()["components"]["schemas"]
    for name in ("Campaign", "CampaignCreateRequest", "PatchedCampaignUpdateRequest"):
        assert schemas[name]["properties"]["show_gold_score"]["type"] == "boolean", name
