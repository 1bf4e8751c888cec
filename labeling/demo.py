"""The demo campaign: XSTest prompts, one real model's completions, and a generation run on the
offline model server (an offline stand-in, not a real model)."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.db import transaction

from .campaigns.services import campaign_create, latest_policy_version
from .generation import runs
from .generation.styles import BUILT_IN
from .imports.candidates import candidate_import
from .imports.prompts import prompt_import
from .models import Campaign, GenerationRun, ModelEndpoint

DEMO_DATA = Path(__file__).resolve().parent / "demo_data" / "xstest"
DEMO_SLUG = "xstest-demo"
DEMO_ENDPOINT = "offline-stand-in"
DEMO_PROMPTS = 40


def seed_demo_campaign() -> Campaign:
    """Create the demo campaign and start its generation run. Idempotent."""
    mapping = json.loads((DEMO_DATA / "mapping.json").read_text(encoding="utf-8"))
    with transaction.atomic():
        campaign = Campaign.objects.filter(slug=DEMO_SLUG).first()
        if campaign is None:
            campaign = campaign_create(
                name="XSTest demo",
                slug=DEMO_SLUG,
                policy_version=latest_policy_version(),
                instructions=(
                    "Rate each side for **response mode**, **severity** and **helpfulness**, "
                    "then say which is the better training target: safe first, then helpful."
                ),
                open_now=True,
            )
        if not campaign.prompts.exists():
            prompt_import(
                campaign=campaign,
                source=DEMO_DATA / "xstest_prompts.csv",
                file_format="xstest",
                mapping=mapping,
            )
            candidate_import(
                campaign=campaign,
                source=DEMO_DATA / "xstest_v2_completions_gpt4.csv",
                file_format="xstest-completions",
                source_name="gpt4",
                mapping=mapping,
            )
        endpoint, _ = ModelEndpoint.objects.get_or_create(
            name=DEMO_ENDPOINT,
            defaults={
                "base_url": settings.OPENAI_BASE_URL,
                "model": settings.OPENAI_MODEL,
                "api_key_env": "",
                "timeout_seconds": 30.0,
                "concurrency_limit": 4,
            },
        )
        if not GenerationRun.objects.filter(campaign=campaign).exists():
            runs.run_create(
                campaign=campaign,
                endpoints=[endpoint],
                styles=[BUILT_IN["refusal-style"], BUILT_IN["safe-completion-style"]],
                samples_per_prompt=1,
                temperature=0.7,
                max_tokens=256,
                seed=1,
                prompt_limit=DEMO_PROMPTS,
            )
    return campaign
