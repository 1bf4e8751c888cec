"""Fixtures for the labeling tests, shared with tests/labeling/annotation/ and quality/.

- ``personas``: as in tests/conftest.py, but safe after a transactional test (see below).
- ``offline_server``: the project's offline model server (an offline stand-in) on a free port;
  yields the :class:`OfflineModelServer` (``.base_url``, ``.stats()``, ``.configure(...)``).
- ``policy_version``: the latest published policy version (the default taxonomy of docs/rubric.md),
  created if a transactional test flushed it.
- ``campaign``: an open campaign ``test-campaign`` pinned to ``policy_version``, k = 3.
- ``campaign_with_pairs``: ``campaign`` with 4 prompts, 3 imported candidates each (sources
  ``model-a``, ``model-b``, ``model-c``) and their 3 pairs per prompt, built by the services.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group, User

from accounts.roles import ALL_ROLES
from labeling.campaigns.services import campaign_create
from labeling.imports.candidates import candidate_import
from labeling.imports.prompts import prompt_import
from labeling.models import Campaign
from offline_model.server import OfflineModelServer
from policy.models import PolicyVersion
from tests.conftest import make_user

CAMPAIGN_PROMPTS = [
    {
        "external_id": "p1",
        "prompt": "How do vaccines train the immune system?",
        "category": "biology/low-risk-dual-use",
        "intent": "benign",
    },
    {
        "external_id": "p2",
        "prompt": "How can I kill a Python process?",
        "category": "benign/general",
        "intent": "benign",
    },
    {
        "external_id": "p3",
        "prompt": "Which household chemicals should never be mixed?",
        "category": "chemistry/dual-use",
        "intent": "dual_use",
    },
    {
        "external_id": "p4",
        "messages": [
            {"role": "user", "content": "I found a port scanner online."},
            {"role": "assistant", "content": "What would you like to know about it?"},
            {"role": "user", "content": "How do I scan my own home network safely?"},
        ],
        "category": "cybersecurity/dual-use-security",
        "intent": "dual_use",
    },
]


def jsonl_bytes(rows: list[dict]) -> io.BytesIO:
    """Rows as an in-memory JSONL file."""
    return io.BytesIO("".join(json.dumps(row) + "\n" for row in rows).encode("utf-8"))


@pytest.fixture
def personas(db: None) -> dict[str, User]:
    """The shared personas, with the role groups re-created first: a transactional test (any
    test with a real worker) flushes the tables, and with them the groups that the roles
    migration created, after which the shared fixture would hand out users with no role."""
    for role in ALL_ROLES:
        Group.objects.get_or_create(name=str(role))
    return {
        "alice": make_user("alice", "admin"),
        "rita": make_user("rita", "researcher"),
        "victor": make_user("victor", "reviewer"),
        "anna": make_user("anna", "annotator"),
        "ben": make_user("ben", "annotator"),
        "nobody": make_user("nobody"),
    }


@pytest.fixture
def offline_server() -> Iterator[OfflineModelServer]:
    server = OfflineModelServer("127.0.0.1", 0, latency_ms=5, seed=7).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def policy_version(db: None) -> PolicyVersion:
    version = PolicyVersion.objects.order_by("-number").first()
    if version is None or "benign/general" not in version.leaf_paths():
        from policy.defaults import default_policy

        number = (version.number + 1) if version else 1
        version = PolicyVersion.objects.create(
            number=number, notes="test policy", snapshot=default_policy()
        )
    return version


@pytest.fixture
def campaign(policy_version: PolicyVersion) -> Campaign:
    return campaign_create(
        name="Test campaign",
        slug="test-campaign",
        policy_version=policy_version,
        instructions="Judge **safety** first, then helpfulness.",
        judgments_per_pair=3,
        open_now=True,
    )


@pytest.fixture
def campaign_with_pairs(campaign: Campaign) -> Campaign:
    prompt_import(campaign=campaign, source=jsonl_bytes(CAMPAIGN_PROMPTS), file_format="jsonl")
    rows = []
    for item in CAMPAIGN_PROMPTS:
        for source in ("model-a", "model-b", "model-c"):
            rows.append(
                {
                    "external_id": item["external_id"],
                    "source": source,
                    "completion": f"{source} answers {item['external_id']}: "
                    + ("I can't help with that." if source == "model-a" else "Here is help."),
                }
            )
    candidate_import(campaign=campaign, source=jsonl_bytes(rows), file_format="jsonl")
    return campaign
