"""The pages: my work, the pair page (htmx submit returns the next pair), skip, autosave,
edits, roles, and the fixed number of queries whatever the data size."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from labeling.annotation import selectors, services
from labeling.models import Assignment, Candidate, Judgment, JudgmentRevision, Pair
from presentation.untrusted_text import RENDERER, render_untrusted

from .conftest import build_pairs, form_fields, pairs_locked_elsewhere, payload

HTMX = {"HTTP_HX_REQUEST": "true"}


def annotate_url(campaign):
    return reverse("labeling:annotate", args=(campaign.slug,))


def current_assignment(user):
    return Assignment.objects.filter(annotator=user, completed_at__isnull=True).get()


def test_pair_page_shows_the_pair_in_the_annotators_order(
    campaign_with_pairs, client_for, personas
):
    client = client_for("anna")
    client.post(annotate_url(campaign_with_pairs))
    response = client.get(annotate_url(campaign_with_pairs))
    assert response.status_code == 200
    assignment = current_assignment(personas["anna"])
    pair = assignment.pair
    left, right = (
        (pair.candidate_a, pair.candidate_b)
        if assignment.left_is_a
        else (pair.candidate_b, pair.candidate_a)
    )
    html = response.content.decode()
    assert html.index(left.text) < html.index(right.text)
    assert 'id="annotate-root"' in html and "hx-disable" in html
    assert "Guidance" in html and 'data-key="q"' in html
    for message in pair.prompt.messages:
        assert message["content"] in html
    assert "Content-Security-Policy" in response.headers
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]


def test_htmx_submit_saves_and_returns_the_next_pair(campaign_with_pairs, client_for, personas):
    client = client_for("anna")
    client.post(annotate_url(campaign_with_pairs))
    first = current_assignment(personas["anna"])
    url = reverse("labeling:annotate_submit", args=(campaign_with_pairs.slug, first.pk))
    fields = {**form_fields(payload()), "time_on_task_ms": "4321"}
    response = client.post(url, fields, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="annotate-root"')  # the partial only
    assert "Saved." in html
    judgment = Judgment.objects.get()
    assert judgment.assignment_id == first.pk and judgment.time_on_task_ms == 4321
    second = current_assignment(personas["anna"])
    assert second.pk != first.pk and f'data-assignment="{second.pk}"' in html
    # The same submit again (a double click or a retry) creates nothing and shows the same
    # next pair.
    again = client.post(url, fields, **HTMX)
    assert "Already saved" in again.content.decode()
    assert f'data-assignment="{second.pk}"' in again.content.decode()
    assert Judgment.objects.count() == 1


def test_invalid_submit_shows_each_message_and_keeps_the_values(
    campaign_with_pairs, client_for, personas
):
    client = client_for("anna")
    client.post(annotate_url(campaign_with_pairs))
    assignment = current_assignment(personas["anna"])
    fields = form_fields(payload(preference=2))
    fields["left_helpfulness"] = "9"
    response = client.post(
        reverse("labeling:annotate_submit", args=(campaign_with_pairs.slug, assignment.pk)),
        fields,
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "The helpfulness must be a whole number from 1 to 4" in html
    assert "Write a short rationale" in html
    assert 'value="2" data-key="5" checked' in html  # the preference is kept
    assert f'data-assignment="{assignment.pk}"' in html
    assert Judgment.objects.count() == 0


def test_non_htmx_submit_redirects_to_the_next_pair(campaign_with_pairs, client_for, personas):
    client = client_for("anna")
    client.post(annotate_url(campaign_with_pairs))
    assignment = current_assignment(personas["anna"])
    response = client.post(
        reverse("labeling:annotate_submit", args=(campaign_with_pairs.slug, assignment.pk)),
        form_fields(payload()),
    )
    assert response.status_code == 302 and response["Location"] == annotate_url(campaign_with_pairs)


def test_autosave_survives_a_reload(campaign_with_pairs, client_for, personas):
    client = client_for("anna")
    client.post(annotate_url(campaign_with_pairs))
    assignment = current_assignment(personas["anna"])
    draft_url = reverse("labeling:annotate_draft", args=(campaign_with_pairs.slug, assignment.pk))
    response = client.post(
        draft_url,
        {
            "left_severity": "moderate",
            "preference": "-1",
            "rationale": "half a thought",
            "flags": ["needs_expert"],
        },
        **HTMX,
    )
    assert response.status_code == 204
    html = client.get(annotate_url(campaign_with_pairs)).content.decode()
    assert 'name="left_severity" value="moderate" data-key="f" checked' in html
    assert "half a thought" in html
    assert 'value="needs_expert" data-key="7" checked' in html
    # Someone else cannot write my draft.
    assert client_for("ben").post(draft_url, {"rationale": "x"}).status_code == 409


def test_skip_with_reason_serves_another_pair(campaign_with_pairs, client_for, personas):
    client = client_for("anna")
    client.post(annotate_url(campaign_with_pairs))
    assignment = current_assignment(personas["anna"])
    url = reverse("labeling:annotate_skip", args=(campaign_with_pairs.slug, assignment.pk))
    response = client.post(url, {"reason": "", "reason_detail": ""}, **HTMX)
    assert "Give a reason" in response.content.decode()
    response = client.post(
        url, {"reason": "Outside my expertise", "skip_flags": ["needs_expert"]}, **HTMX
    )
    assert "Skipped." in response.content.decode()
    assert current_assignment(personas["anna"]).pair_id != assignment.pair_id


def test_my_work_lists_campaigns_progress_and_my_judgments_only(
    campaign_with_pairs, client_for, personas
):
    for name in ("anna", "ben"):
        client = client_for(name)
        client.post(annotate_url(campaign_with_pairs))
        assignment = current_assignment(personas[name])
        client.post(
            reverse("labeling:annotate_submit", args=(campaign_with_pairs.slug, assignment.pk)),
            form_fields(payload(rationale=f"reason by {name}")),
        )
    html = client_for("anna").get(reverse("labeling:my_work")).content.decode()
    assert campaign_with_pairs.name in html
    assert "2 / 36 judgments" in html
    mine = Judgment.objects.get(annotator=personas["anna"])
    theirs = Judgment.objects.get(annotator=personas["ben"])
    assert reverse("labeling:judgment_edit", args=(mine.pk,)) in html
    assert reverse("labeling:judgment_edit", args=(theirs.pk,)) not in html


def test_edit_page_keeps_history_and_refuses_others(campaign_with_pairs, client_for, personas):
    client = client_for("anna")
    client.post(annotate_url(campaign_with_pairs))
    assignment = current_assignment(personas["anna"])
    client.post(
        reverse("labeling:annotate_submit", args=(campaign_with_pairs.slug, assignment.pk)),
        form_fields(payload()),
    )
    judgment = Judgment.objects.get()
    url = reverse("labeling:judgment_edit", args=(judgment.pk,))
    page = client.get(url)
    assert page.status_code == 200 and 'value="1" data-key="4" checked' in page.content.decode()
    assert client_for("ben").get(url).status_code == 404
    bad = client.post(url, form_fields(payload(preference=5)))
    assert bad.status_code == 400
    response = client.post(url, form_fields(payload(preference=0)))
    assert response.status_code == 302
    judgment.refresh_from_db()
    assert judgment.preference == 0
    assert JudgmentRevision.objects.filter(judgment=judgment).count() == 1
    # The history shows the values before the edit as the annotator saw the pair, whichever
    # side candidate A was on: right slightly better, left a safe completion rated 3.
    history = client.get(url).content.decode()
    rows = history[history.index('id="revision-history"') :]
    assert "Right slightly better" in rows and "Left slightly better" not in rows
    left_cell = rows.split("<td>")[3]
    assert "Safe-completion" in left_cell and "Direct answer" not in left_cell
    # My work marks it edited even when the edit came within the submit's second (an undo).
    Judgment.objects.filter(pk=judgment.pk).update(created_at=judgment.updated_at)
    my_work = client.get(reverse("labeling:my_work")).content.decode()
    assert my_work.count('<span class="muted">edited</span>') == 1


def test_roles(campaign_with_pairs, client_for, personas):
    url = annotate_url(campaign_with_pairs)
    assert client_for("anna").get(url).status_code == 200
    assert client_for("victor").get(url).status_code == 200  # reviewer
    assert client_for("alice").get(url).status_code == 200  # admin
    assert client_for("rita").get(url).status_code == 403  # researcher
    assert client_for("nobody").get(url).status_code == 403
    assert client_for("anna").get(reverse("labeling:annotate", args=("nope",))).status_code == 404
    from django.test import Client

    assert Client().get(url).status_code == 302  # anonymous: to the login page
    # A members-only campaign: annotators outside it get nothing.
    campaign_with_pairs.open_to_all_annotators = False
    campaign_with_pairs.save()
    campaign_with_pairs.members.set([personas["ben"]])
    assert client_for("anna").get(url).status_code == 403
    assert client_for("ben").get(url).status_code == 200
    assert client_for("rita").get(reverse("labeling:my_work")).status_code == 403


def _count_round_trip(client, campaign, user):
    """Queries of one claim (the page's POST once loaded) and one submit + next pair (htmx)."""
    with CaptureQueriesContext(connection) as claim_queries:
        client.post(annotate_url(campaign), **HTMX)
    assignment = current_assignment(user)
    url = reverse("labeling:annotate_submit", args=(campaign.slug, assignment.pk))
    with CaptureQueriesContext(connection) as submit_queries:
        response = client.post(url, form_fields(payload()), **HTMX)
    assert "Saved." in response.content.decode()
    return len(claim_queries), len(submit_queries)


# Transactional, so requests run in autocommit as in production (inside a test transaction
# the round trip's statement would sit in a savepoint, two more statements).
@pytest.mark.django_db(transaction=True)
def test_claim_and_submit_take_a_fixed_number_of_queries(
    campaign, client_for, personas, make_annotators
):
    # Process-wide caches (the campaign's policy version) warm, as in a running server.
    selectors.policy_version(campaign.policy_version_id)
    build_pairs(campaign, 5)
    small = _count_round_trip(client_for("anna"), campaign, personas["anna"])
    # Grow the data twenty-fold, with judgments by others on many pairs.
    pairs = build_pairs(campaign, 100)
    others = make_annotators(2, prefix="other")
    for index, pair in enumerate(pairs[:60]):
        for slot, other in enumerate(others[: 1 + index % 2]):
            assignment = Assignment.objects.create(
                pair=pair, campaign=campaign, annotator=other, slot=slot, left_is_a=True,
                expires_at=pair.created_at, completed_at=pair.created_at,
            )  # fmt: skip
            Judgment.objects.create(
                pair=pair, annotator=other, assignment=assignment,
                policy_version=campaign.policy_version, a_response_mode="other",
                a_severity="none", a_helpfulness=1, b_response_mode="other", b_severity="none",
                b_helpfulness=1, preference=0, left_is_a=True,
            )  # fmt: skip
        Pair.objects.filter(pk=pair.pk).update(judgment_count=1 + index % 2)
    # A fresh annotator, so the claim takes a new lease (rather than finds a live one).
    large = _count_round_trip(client_for("ben"), campaign, personas["ben"])
    assert small == large, (small, large)
    # Session and user (as for any signed-in page), the caller's roles with the campaign and
    # their membership (one query: selectors.campaign_for_annotation), and one query that
    # claims (the page's POST) or submits and claims (htmx round trip, two prepared statements in
    # one query string): see labeling/annotation/claim/postgres.py.
    assert small == (4, 4), small


@pytest.mark.parametrize("one_statement", [True, False], ids=["statement", "portable"])
def test_pages_show_the_stored_html_of_this_renderer(
    campaign_with_pairs, client_for, personas, monkeypatch, one_statement
):
    """Candidates carry their rendering (made when stored); the page load and the htmx round
    trip show it as stored, and a row from another renderer is rendered again."""
    if not one_statement:
        monkeypatch.setattr(services, "one_statement_round_trip", lambda: False)
    candidates = Candidate.objects.filter(prompt__campaign=campaign_with_pairs)
    candidates.update(
        html=Concat(Value("<p>stored "), Cast("id", CharField()), Value("</p>")),
        html_renderer=RENDERER,
    )
    client = client_for("anna")
    html = client.post(annotate_url(campaign_with_pairs), **HTMX).content.decode()
    first = current_assignment(personas["anna"])
    for candidate in (first.pair.candidate_a, first.pair.candidate_b):
        assert f"<p>stored {candidate.pk}</p>" in html
    candidates.update(html_renderer=0)
    url = reverse("labeling:annotate_submit", args=(campaign_with_pairs.slug, first.pk))
    html = client.post(url, form_fields(payload()), **HTMX).content.decode()
    second = current_assignment(personas["anna"])
    assert second.pk != first.pk
    for candidate in (second.pair.candidate_a, second.pair.candidate_b):
        assert "stored" not in html and render_untrusted(candidate.text) in html


def test_opening_the_pair_page_claims_nothing_and_its_post_claims(
    campaign_with_pairs, client_for, personas
):
    """A GET only reads: an ``<img src>`` or a link to the page elsewhere takes no work in
    the viewer's name. The page claims through a POST (htmx on load, a button without it)."""
    anna = personas["anna"]
    client = client_for("anna")
    url = annotate_url(campaign_with_pairs)
    before = Assignment.objects.count()
    page = client.get(url)
    assert page.status_code == 200
    assert Assignment.objects.count() == before
    html = page.content.decode()
    assert 'id="claim-form"' in html and f'hx-post="{url}"' in html
    assert 'hx-trigger="load, submit"' in html and 'name="csrfmiddlewaretoken"' in html
    assert "data-assignment" not in html
    claimed = client.post(url, **HTMX)
    assert claimed.status_code == 200
    assert Assignment.objects.count() == before + 1
    assignment = current_assignment(anna)
    assert f'data-assignment="{assignment.pk}"' in claimed.content.decode()
    # Opening the page again shows the pair held, and still takes nothing more.
    again = client.get(url).content.decode()
    assert f'data-assignment="{assignment.pk}"' in again and 'id="claim-form"' not in again
    assert Assignment.objects.count() == before + 1


def test_claim_without_htmx_redirects_to_the_page_holding_the_pair(
    campaign_with_pairs, client_for, personas
):
    client = client_for("anna")
    url = annotate_url(campaign_with_pairs)
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == url
    assignment = current_assignment(personas["anna"])
    assert f'data-assignment="{assignment.pk}"' in client.get(url).content.decode()


def test_claim_needs_the_csrf_token(campaign_with_pairs, personas):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(personas["anna"])
    url = annotate_url(campaign_with_pairs)
    html = client.get(url).content.decode()
    assert client.post(url, **HTMX).status_code == 403
    assert not Assignment.objects.exists()
    token = html.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    response = client.post(url, {"csrfmiddlewaretoken": token}, **HTMX)
    assert response.status_code == 200 and Assignment.objects.count() == 1


def test_pair_page_of_a_campaign_with_nothing_left_says_so_after_the_claim(campaign, client_for):
    client = client_for("anna")
    url = annotate_url(campaign)
    assert 'id="claim-form"' in client.get(url).content.decode()
    html = client.post(url, **HTMX).content.decode()
    assert "No more pairs for you here." in html and 'id="claim-form"' not in html
    # Without script the POST answers the page itself (a redirect would offer the claim again).
    page = client.post(url)
    assert page.status_code == 200 and "No more pairs for you here." in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_claim_while_every_pair_left_stays_locked_says_busy_and_tries_again(campaign, client_for):
    pairs = build_pairs(campaign, 1)
    client = client_for("anna")
    with pairs_locked_elsewhere([pairs[0].pk]):
        html = client.post(annotate_url(campaign), **HTMX).content.decode()
    assert "being taken by someone else" in html and "No more pairs" not in html
    assert 'id="claim-form"' in html and 'hx-trigger="load delay:1s, submit"' in html
    assert 'data-assignment="' not in html
    assert 'data-assignment="' in client.post(annotate_url(campaign), **HTMX).content.decode()
