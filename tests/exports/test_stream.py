"""The per-pair stream: PostgreSQL's aggregated query and the portable chunked path agree."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from exports import selectors
from exports.spec import ExportSpec
from labeling.models import Pair


def _portable(spec: ExportSpec, *, with_details: bool) -> list[tuple[Any, ...]]:
    # The path the SQLite demo takes: joined (pair, judgment) rows grouped per pair in Python.
    rows = selectors.export_rows(spec, as_of=timezone.now(), with_details=with_details)
    return list(selectors._group_joined(rows.iterator(), with_details))


@pytest.mark.django_db
@pytest.mark.parametrize("with_details", [False, True])
def test_aggregated_stream_equals_grouped_join(
    hand: dict[str, Any], personas: dict[str, User], with_details: bool
) -> None:
    build = hand["build"]
    # A pair nobody judged, so empty judgment lists are compared as well.
    prompt = build.prompt("An unjudged prompt", "chemistry/dual-use", "benign")
    build.pair(build.candidate(prompt, "one"), build.candidate(prompt, "two"))
    spec = ExportSpec(format="judgments", campaigns=("hand",))

    streamed = list(
        selectors.stream_export_rows(spec, as_of=timezone.now(), with_details=with_details)
    )

    assert streamed == _portable(spec, with_details=with_details)
    width = len(selectors.PAIR_COLUMNS)
    expected_order = Pair.objects.filter(prompt__campaign__slug="hand").order_by(
        "prompt__category_path", "prompt_id", "id"
    )
    assert [row[2] for row in streamed] == list(expected_order.values_list("id", flat=True))
    judged = {row[2]: row[width] for row in streamed}
    first = hand["pairs"][0]
    assert judged[first.pk] == sorted(first.judgments.values_list("id", flat=True))
    unjudged = Pair.objects.get(prompt=prompt)
    assert judged[unjudged.pk] == []
    assert all(
        len(row) == width + len(selectors._judgment_columns(with_details)) for row in streamed
    )


@pytest.mark.django_db
def test_stream_respects_the_as_of_cut(hand: dict[str, Any]) -> None:
    spec = ExportSpec(format="trl-preference", campaigns=("hand",))
    before = timezone.now() - timezone.timedelta(days=1)

    assert list(selectors.stream_export_rows(spec, as_of=before)) == []
