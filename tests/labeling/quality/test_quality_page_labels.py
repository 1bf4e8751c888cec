"""The campaign quality page names rubric fields and intents as the rubric labels them."""

from __future__ import annotations

import re

import pytest

from policy.rubric import FIELD_LABELS, INTENT_FIELD, RESPONSE_MODE_FIELD, Intent, ResponseMode

pytestmark = pytest.mark.django_db


def test_fields_and_intents_read_as_labels_not_codes(client_for, build, personas) -> None:
    prompt = build.prompt(intent=str(Intent.DUAL_USE))
    pair = build.pair(build.candidate(prompt), build.candidate(prompt))
    for name in ("anna", "ben"):
        build.judge(pair, personas[name])

    response = client_for("rita").get(f"/quality/campaigns/{build.campaign.slug}/")
    assert response.status_code == 200
    html = response.content.decode()
    # Visible table text, without the command line shown in <code>.
    cells = " ".join(re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", html, flags=re.S))
    assert FIELD_LABELS[RESPONSE_MODE_FIELD] in cells
    assert RESPONSE_MODE_FIELD not in cells
    assert Intent.DUAL_USE.label in cells
    assert f">{Intent.DUAL_USE.value}<" not in cells
    assert FIELD_LABELS[INTENT_FIELD] in cells
    assert str(ResponseMode.DIRECT_ANSWER) not in cells
