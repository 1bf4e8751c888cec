"""Each annotator's consensus reliability where annotators are listed with their figures: the
annotators dashboard (page, CSV, API) and the review queue's flagged annotators."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from labeling.quality.consensus import CONSENSUS_FIELDS, consensus_request, rater_reliabilities
from labeling.quality.gold import pair_gold_set
from policy.rubric import FIELD_LABELS, SEVERITY_FIELD

from .conftest import Builder
from .test_consensus import rated  # noqa: F401  (the fixture)
from .test_gold import ANSWER as GOLD


class _Table(HTMLParser):
    """The header and body cells of the page's annotators table, as text."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.header: list[str] = []
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("data-table", "annotators") in attrs:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def annotator_rows(html: str) -> dict[str, dict[str, str]]:
    table = _Table()
    table.feed(html)
    header, *body = table.rows
    return {row[0]: dict(zip(header, row, strict=True)) for row in body}


def column(name: str) -> str:
    return f"Reliability · {FIELD_LABELS[name]}"


def test_the_annotators_dashboard_shows_each_annotators_reliability(
    build: Builder,
    rated,  # noqa: F811
    client_for,
) -> None:
    slug = build.campaign.slug
    client = client_for("victor")

    def page() -> str:
        answer = client.get(
            reverse("labeling:dashboards"), {"campaign": slug, "view": "annotators"}
        )
        assert answer.status_code == 200
        return answer.content.decode()

    before = page()
    rows = annotator_rows(before)
    assert set(rows) == {"rater1", "rater2", "rater3", "rater4"}
    assert {rows["rater4"][column(name)] for name in CONSENSUS_FIELDS} == {"—"}
    assert "Reliability: — until a consensus is computed." in before
    table = client.get(f"/api/v1/quality/campaigns/{slug}/dashboards/annotators/").json()
    assert table["consensus_computed_at"] is None

    run = consensus_request(campaign=build.campaign)
    reliabilities = rater_reliabilities(run)
    after = page()
    rows = annotator_rows(after)
    for rater in rows:
        for name in CONSENSUS_FIELDS:
            assert rows[rater][column(name)] == f"{reliabilities[rater][name]:.3f}", rater
    assert float(rows["rater4"][column(SEVERITY_FIELD)]) < min(
        float(rows[f"rater{i}"][column(SEVERITY_FIELD)]) for i in (1, 2, 3)
    )
    stamp = run.computed_at.isoformat(timespec="seconds").replace("+00:00", "Z")
    assert "in the consensus computed" in after and f'datetime="{stamp}"' in after

    # The CSV and the API carry the same figures, the API the run's time as well.
    download = client.get(
        reverse("labeling:dashboard_csv", args=["annotators"]), {"campaign": slug}
    ).content.decode()
    by_rater = {row["annotator"]: row for row in csv.DictReader(io.StringIO(download))}
    table = client.get(f"/api/v1/quality/campaigns/{slug}/dashboards/annotators/").json()
    api_rows = {row["annotator"]: row for row in table["rows"]}
    for name in CONSENSUS_FIELDS:
        expected = reliabilities["rater2"][name]
        assert float(by_rater["rater2"][f"reliability_{name}"]) == pytest.approx(expected)
        assert api_rows["rater2"][f"reliability_{name}"] == pytest.approx(expected)
    assert table["consensus_computed_at"].startswith(run.computed_at.date().isoformat())


def test_the_review_queues_flagged_annotators_show_their_reliability(
    build: Builder, annotators, client_for
) -> None:
    careful, bad = annotators[0], annotators[1]
    for _ in range(3):
        prompt = build.prompt()
        pair = pair_gold_set(
            pair=build.pair(build.candidate(prompt), build.candidate(prompt)), answer=GOLD
        )
        build.judge(pair, careful, preference=-1)
        build.judge(pair, bad, preference=1)
    client = client_for("victor")

    def flagged() -> str:
        page = client.get(reverse("labeling:review_queue"), {"campaign": build.campaign.slug})
        html = page.content.decode()
        return html[html.index('id="flagged-annotators"') : html.index("</ul>")]

    assert "<strong>rater2</strong>" in flagged() and "consensus reliability —" in flagged()
    run = consensus_request(campaign=build.campaign)
    mine = rater_reliabilities(run)["rater2"]
    shown = ", ".join(f"{FIELD_LABELS[name].lower()} {mine[name]:.2f}" for name in CONSENSUS_FIELDS)
    assert f"consensus reliability {shown} (computed" in flagged()
