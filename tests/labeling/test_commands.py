"""The scripting commands: campaign_create, endpoint_create, import_*, generate --wait."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.models import Campaign, Candidate, GenerationRun, ModelEndpoint


def test_campaign_and_endpoint_commands(policy_version, capsys):
    call_command("campaign_create", "cli", name="CLI campaign", judgments_per_pair=5, open=True)
    campaign = Campaign.objects.get(slug="cli")
    assert campaign.status == "open" and campaign.judgments_per_pair == 5
    assert campaign.policy_version == policy_version
    with pytest.raises(CommandError):
        call_command("campaign_create", "cli2", name="x", policy_version=999)
    call_command(
        "endpoint_create",
        "local",
        base_url="http://127.0.0.1:1/v1",
        model="m",
        api_key_env="GRAYLAB_ENDPOINT_LOCAL_KEY",
        concurrency=3,
        timeout=5,
    )
    endpoint = ModelEndpoint.objects.get(name="local")
    assert (endpoint.api_key_env, endpoint.concurrency_limit, endpoint.timeout_seconds) == (
        "GRAYLAB_ENDPOINT_LOCAL_KEY",
        3,
        5,
    )
    with pytest.raises(CommandError):
        call_command(
            "endpoint_create", "bad", base_url="http://x/v1", model="m", api_key_env="sk-abc def"
        )


@pytest.mark.worker
def test_generate_wait(campaign, celery_worker, offline_server, tmp_path, capsys):
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(f'{{"prompt": "cli prompt {i}"}}\n' for i in range(3)))
    call_command(
        "import_prompts",
        str(path),
        campaign=campaign.slug,
        default_category="benign/general",
        default_intent="benign",
    )
    call_command(
        "endpoint_create", "offline", base_url=offline_server.base_url, model="graylab-offline"
    )
    call_command(
        "generate",
        "--campaign", campaign.slug,
        "--endpoint", "offline",
        "--style", "refusal-style",
        "--style", "safe-completion-style",
        "--wait",
    )  # fmt: skip
    run = GenerationRun.objects.get()
    assert run.status == "completed" and run.succeeded == 6
    assert Candidate.objects.filter(run=run).count() == 6
    with pytest.raises(CommandError):
        call_command(
            "generate", "--campaign", campaign.slug, "--endpoint", "offline", "--style", "nope"
        )
