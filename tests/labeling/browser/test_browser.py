"""The data browser: search and filters select exactly the planted rows (PostgreSQL full-text
search and the portable path), keyset pages are stable, roles, escaped highlights, the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from labeling.browser import selectors
from labeling.browser.search_index import PENDING_LIST_KB
from labeling.browser.selectors import (
    candidates_matching_text,
    page_of,
    prompts_matching_text,
    query_parse,
    rows_matching,
)
from labeling.browser.services import pairs_bulk_apply
from labeling.models import Campaign, Candidate, Pair, Prompt

from .conftest import Builder


def ids(campaign: Campaign, **params: Any) -> set[int]:
    query = query_parse(params)
    return set(rows_matching(campaign, query).values_list("id", flat=True))


def test_search_finds_exactly_the_planted_rows(quality_campaign, planted, search_path) -> None:
    c, p, prompts = planted["c"], planted["p"], planted["prompts"]
    assert ids(quality_campaign, table="candidates", q="zanzibar") == {c["zanzibar"].pk}
    assert ids(quality_campaign, table="candidates", q="ZANZIBAR island") == {c["zanzibar"].pk}
    assert ids(quality_campaign, table="candidates", q="quokkas") == {c["rottnest"].pk}
    assert ids(quality_campaign, table="prompts", q="zanzibar") == {prompts["garden"].pk}
    assert ids(quality_campaign, table="prompts", q="kettles") == {prompts["plain"].pk}
    # a pair matches by its prompt or either completion
    assert ids(quality_campaign, table="pairs", q="zanzibar") == {p["garden"].pk, p["island"].pk}
    assert ids(quality_campaign, table="pairs", q="seedlings") == {p["garden"].pk}
    assert ids(quality_campaign, table="judgments", q="seedlings") == set(
        p["garden"].judgments.values_list("id", flat=True)
    )
    assert ids(quality_campaign, table="candidates", q="nothingmatchesthis") == set()


def test_postgresql_search_reads_the_gin_index(quality_campaign, planted) -> None:
    from django.db import connection

    # (The planted tables are tiny: the planner reads them whole unless told not to.)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        candidates = candidates_matching_text(Candidate.objects.all(), "zanzibar").explain()
        prompts = prompts_matching_text(Prompt.objects.all(), "zanzibar").explain()
        cursor.execute("RESET enable_seqscan")
    assert "Bitmap Index Scan on candidate_search" in candidates
    assert "Bitmap Index Scan on prompt_search" in prompts


def test_filters_select_exactly_the_planted_pairs(quality_campaign, planted, search_path) -> None:
    p = planted["p"]
    every = {pair.pk for pair in p.values()}
    assert ids(quality_campaign) == every
    assert ids(quality_campaign, category="cyber") == {p["island"].pk}
    assert ids(quality_campaign, category="biology/low-risk-dual-use") == every - {p["island"].pk}
    assert ids(quality_campaign, intent="dual_use") == {p["kettle"].pk}
    assert ids(quality_campaign, model="model-z") == {p["kettle"].pk}
    assert ids(quality_campaign, style="refusal") == {p["garden"].pk, p["kettle"].pk}
    assert ids(quality_campaign, judgments_min="2") == {p["garden"].pk, p["island"].pk}
    assert ids(quality_campaign, judgments_max="1") == {p["kettle"].pk}
    assert ids(quality_campaign, agreement="agree") == {p["garden"].pk}
    assert ids(quality_campaign, agreement="disagree") == {p["island"].pk}
    assert ids(quality_campaign, flag="any") == {p["island"].pk}
    assert ids(quality_campaign, flag="needs_expert") == {p["island"].pk}
    assert ids(quality_campaign, flag="personal_data") == set()
    assert ids(quality_campaign, gold="yes") == {p["kettle"].pk}
    assert ids(quality_campaign, review="resolved") == {p["island"].pk}
    assert ids(quality_campaign, review="unreviewed") == {p["garden"].pk, p["kettle"].pk}
    # search and filters combine
    assert ids(quality_campaign, q="zanzibar", model="model-y", style="refusal") == {p["garden"].pk}
    assert ids(quality_campaign, q="zanzibar", agreement="agree") == {p["garden"].pk}
    # the judgments table: judgments of the matching pairs, flags the judgment's own
    flagged = ids(quality_campaign, table="judgments", flag="needs_expert")
    assert flagged == set(p["island"].judgments.exclude(flags=[]).values_list("id", flat=True))


def test_review_and_export_state_filters_follow_bulk_actions(
    quality_campaign, planted, personas
) -> None:
    p = planted["p"]
    pairs_bulk_apply(action="review", pair_ids=[p["garden"].pk], user=personas["rita"])
    pairs_bulk_apply(action="exclude", pair_ids=[p["kettle"].pk], user=personas["rita"])
    assert ids(quality_campaign, review="requested") == {p["garden"].pk}
    assert ids(quality_campaign, excluded="yes") == {p["kettle"].pk}
    assert ids(quality_campaign, excluded="no") == {p["garden"].pk, p["island"].pk}


def test_bad_filter_values_are_refused_by_name() -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        query_parse({"table": "pairs", "intent": "evil", "size": "7", "judgments_min": "x"})
    assert set(error.value.message_dict) == {"intent", "size", "judgments_min"}


@pytest.fixture(params=["every match counted", "past the count cap"])
def count_cap(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Pages cut from the counted matches' keys, and pages read past the count's cap."""
    if request.param == "past the count cap":
        monkeypatch.setattr(selectors, "COUNT_CAP", 10)
    return int(selectors.COUNT_CAP)


def test_keyset_pages_are_stable(quality_campaign, build: Builder, count_cap: int) -> None:
    prompt = build.prompt()
    candidates = [build.candidate(prompt) for _ in range(14)]
    made = []
    for index, first in enumerate(candidates):
        for second in candidates[index + 1 : index + 6]:
            made.append(
                Pair(
                    prompt=prompt,
                    campaign=quality_campaign,
                    candidate_a=first,
                    candidate_b=second,
                    judgment_count=len(made) % 3,
                )
            )
    Pair.objects.bulk_create(made)
    assert Pair.objects.filter(campaign=quality_campaign).count() > 50
    for sort, key in (
        ("newest", lambda pair: (-pair.id,)),
        ("most-judged", lambda pair: (-pair.judgment_count, -pair.id)),
        ("least-judged", lambda pair: (pair.judgment_count, pair.id)),
    ):
        every = list(Pair.objects.filter(campaign=quality_campaign))
        expected = [pair.pk for pair in sorted(every, key=key)]
        seen: list[int] = []
        cursor = ""
        pages = []
        while True:
            query = query_parse({"sort": sort, "size": "25", "after": cursor})
            page = page_of(rows_matching(quality_campaign, query), query)
            total = Pair.objects.filter(campaign=quality_campaign).count()
            assert page.count == min(total, count_cap + 1)
            seen.extend(pair.pk for pair in page.rows)
            pages.append((cursor, [pair.pk for pair in page.rows], page))
            if not page.next_cursor:
                break
            cursor = page.next_cursor
            if sort == "newest" and len(pages) == 1:
                # a pair added meanwhile does not shift the pages that follow
                extra = build.candidate(prompt)
                build.pair(candidates[0], extra)
        assert seen == expected, sort
        # "previous" from the second page gives the first page back
        second = pages[1][2]
        query = query_parse({"sort": sort, "size": "25", "before": second.previous_cursor})
        back = page_of(rows_matching(quality_campaign, query), query)
        assert [pair.pk for pair in back.rows] == pages[0][1]
        # only the pair added during the newest-first walk lies before the first page
        assert bool(back.previous_cursor) == (sort == "newest")


def test_roles(client_for, quality_campaign, planted) -> None:
    page = reverse("labeling:browser", args=[quality_campaign.slug])
    api = reverse("browser-list", args=[quality_campaign.slug, "pairs"])
    bulk = reverse("browser-pairs-bulk", args=[quality_campaign.slug])
    pair = planted["p"]["garden"]
    anna = client_for("anna")
    assert anna.get(page).status_code == 403
    assert anna.get(reverse("labeling:browser_pair", args=[pair.pk])).status_code == 403
    assert anna.get(api).status_code == 403
    assert (
        anna.post(
            bulk, {"action": "review", "pairs": [pair.pk]}, content_type="application/json"
        ).status_code
        == 403
    )
    for name in ("rita", "victor", "alice"):
        assert client_for(name).get(page).status_code == 200, name
        assert client_for(name).get(api).status_code == 200, name
    # a reviewer may send to review but not set gold answers or exclude from exports
    victor = client_for("victor")
    body = {"action": "gold", "pairs": [pair.pk]}
    assert victor.post(bulk, body, content_type="application/json").status_code == 403
    assert not Pair.objects.get(pk=pair.pk).is_gold
    body = {"action": "review", "pairs": [pair.pk]}
    assert victor.post(bulk, body, content_type="application/json").status_code == 200


def test_hostile_text_is_escaped_in_highlights(client_for, quality_campaign, build) -> None:
    prompt = build.prompt()
    hostile = build.candidate(
        prompt,
        text='<script>alert(1)</script><img src=x onerror="alert(2)"> zanzibar <b>bold</b>',
    )
    build.pair(hostile, build.candidate(prompt, text="zanzibar too"))
    url = reverse("labeling:browser", args=[quality_campaign.slug])
    for table in ("pairs", "candidates"):
        html = client_for("rita").get(url, {"table": table, "q": "zanzibar"}).content.decode()
        assert "<mark>zanzibar</mark>" in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>alert" not in html and "<img" not in html and "<b>bold" not in html


def test_page_and_htmx_partial(client_for, quality_campaign, planted) -> None:
    url = reverse("labeling:browser", args=[quality_campaign.slug])
    rita = client_for("rita")
    full = rita.get(url, {"q": "zanzibar"})
    assert full.status_code == 200
    html = full.content.decode()
    assert 'id="browser-filters"' in html and "2 pairs match<" in html
    # sorts keep their names in the URL and read as words
    assert '<option value="most-judged" >most judgments first</option>' in html
    partial = rita.get(url, {"q": "zanzibar"}, headers={"HX-Request": "true"}).content.decode()
    assert 'id="results"' in partial and 'id="browser-filters"' not in partial
    # a back-button restore asks for the whole page
    restore = rita.get(
        url, {"q": "zanzibar"}, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    ).content.decode()
    assert 'id="browser-filters"' in restore
    bad = rita.get(url, {"size": "9"})
    assert bad.status_code == 400 and "size: must be one of" in bad.content.decode()
    home = rita.get(reverse("labeling:browser_home"))
    assert home.status_code == 302
    pair = planted["p"]["island"]
    shown = rita.get(reverse("labeling:browser_pair", args=[pair.pk])).content.decode()
    assert 'id="judgments"' in shown and "Rottnest" in shown


def test_api_lists_with_cursors_and_filters(client_for, quality_campaign, planted) -> None:
    rita = client_for("rita")
    url = reverse("browser-list", args=[quality_campaign.slug, "candidates"])
    body = rita.get(url, {"q": "zanzibar"}).json()
    assert body["count"] == 1 and body["results"][0]["id"] == planted["c"]["zanzibar"].pk
    body = rita.get(
        reverse("browser-list", args=[quality_campaign.slug, "pairs"]),
        {"judgments_min": "2", "sort": "oldest"},
    ).json()
    assert [row["id"] for row in body["results"]] == [
        planted["p"]["garden"].pk,
        planted["p"]["island"].pk,
    ]
    assert body["results"][1]["review"] == "labels" and body["results"][0]["agreement"] == "agree"
    bad = rita.get(url, {"intent": "nope"})
    assert bad.status_code == 400 and "intent" in bad.json()
    assert (
        rita.get(reverse("browser-list", args=[quality_campaign.slug, "users"])).status_code == 404
    )


def test_a_count_past_the_cap_shows_more_than_the_cap(
    client_for, quality_campaign, planted, monkeypatch: pytest.MonkeyPatch
) -> None:
    rita = client_for("rita")
    page_url = reverse("labeling:browser", args=[quality_campaign.slug])
    api_url = reverse("browser-list", args=[quality_campaign.slug, "pairs"])
    html = rita.get(page_url).content.decode()
    assert '<strong id="match-count">3 pairs</strong>' in html
    assert "Select all 3 matching" in html
    body = rita.get(api_url).json()
    assert body["count"] == 3 and body["count_at_least"] == 3
    monkeypatch.setattr(selectors, "COUNT_CAP", 2)
    html = rita.get(page_url).content.decode()
    assert '<strong id="match-count">more than 2 pairs</strong>' in html
    assert "Select all matching (more than 2)" in html
    body = rita.get(api_url).json()
    assert body["count"] is None and body["count_at_least"] == 3
    assert len(body["results"]) == 3
    # within the cap the count is exact again
    html = rita.get(page_url, {"q": "zanzibar"}).content.decode()
    assert '<strong id="match-count">2 pairs match</strong>' in html


@pytest.mark.parametrize(("cap", "searches"), [(10_000, 1), (1, 2)])
def test_a_search_within_the_cap_runs_once(
    quality_campaign, planted, monkeypatch: pytest.MonkeyPatch, cap: int, searches: int
) -> None:
    # The index scan of a search is most of its cost: the count's read of the matches also
    # gives the page when the matches are all counted; past the cap the page is read apart.
    monkeypatch.setattr(selectors, "COUNT_CAP", cap)
    query = query_parse({"table": "candidates", "q": "island", "size": "25"})
    with CaptureQueriesContext(connection) as queries:
        page = page_of(rows_matching(quality_campaign, query), query)
    ran = [entry["sql"] for entry in queries if "websearch_to_tsquery" in entry["sql"]]
    assert [row.pk for row in page.rows] == [
        planted["c"]["zanzibar"].pk,
        planted["c"]["rottnest"].pk,
    ]
    assert page.count == min(2, cap + 1) and not page.next_cursor and not page.previous_cursor
    assert len(ran) == searches


@pytest.mark.django_db
def test_search_indexes_keep_a_short_pending_list() -> None:
    # A pending list is read whole by every search (see labeling/browser/search_index.py).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class"
            " WHERE relname IN ('candidate_search', 'prompt_search') ORDER BY relname"
        )
        assert cursor.fetchall() == [
            ("candidate_search", [f"gin_pending_list_limit={PENDING_LIST_KB}"]),
            ("prompt_search", [f"gin_pending_list_limit={PENDING_LIST_KB}"]),
        ]
        cursor.execute("SELECT current_setting('gin_pending_list_limit')")
        assert cursor.fetchone() == ("4MB",)  # the default, which the indexes' own setting cuts


def test_a_campaigns_search_finds_only_its_own_candidates(
    quality_campaign, planted, search_path
) -> None:
    # The campaign of a candidate is its prompt's, however the candidate was stored (the
    # search reads it from the candidate's own row on PostgreSQL, see search_index).
    other = Campaign.objects.create(
        slug="other", name="Other", policy_version=quality_campaign.policy_version
    )
    elsewhere = Builder(other)
    prompt = elsewhere.prompt()
    by_orm = elsewhere.candidate(prompt, text="Zanzibar elsewhere.")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO labeling_candidate (prompt_id, text, html, html_renderer, source, model,"
            " style, sample_index, finish_reason, idempotency_key, prior_labels, metadata,"
            " created_at) VALUES (%s, 'Zanzibar by SQL.', '', 0, 'm', 'm', '', 0, '',"
            " 'by-sql', '{}', '{}', now()) RETURNING id",
            [prompt.pk],
        )
        (by_sql,) = cursor.fetchone()
    assert ids(quality_campaign, table="candidates", q="zanzibar") == {planted["c"]["zanzibar"].pk}
    assert ids(other, table="candidates", q="zanzibar") == {by_orm.pk, by_sql}
    assert ids(quality_campaign, table="pairs", q="zanzibar") == {
        planted["p"]["garden"].pk,
        planted["p"]["island"].pk,
    }
