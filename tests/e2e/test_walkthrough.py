"""A newcomer's day through the running app, every role in Chromium (Playwright), against a
live server, real PostgreSQL, a real Celery worker and the offline model server:

1. the admin signs in, creates a researcher, two annotators and a reviewer on the user pages,
   adds the offline model server as an endpoint, opens the policy editor and the API docs;
2. the researcher creates a members-only campaign, imports XSTest's prompts with no option
   chosen, generates candidates on the worker, opens the campaign and searches the data browser;
3. the annotators rate pairs with the keyboard only, see their progress, and one undoes (edits)
   a submit; the second disagrees with the first on one pair;
4. the reviewer resolves that pair from the review queue and finds it under resolved reviews;
5. the researcher exports the campaign, waits for the worker, downloads the archive and reads
   its files.

Every page of the walk fails the test on a console error, an uncaught script error, a
Content-Security-Policy violation or a server error.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest
from django.urls import get_resolver
from playwright.sync_api import expect

from labeling.models import Candidate, Judgment, JudgmentRevision, Pair, Prompt, Review
from tests.conftest import PASSWORD, make_user
from tests.labeling.conftest import offline_server  # noqa: F401 - the fixture this test uses

pytestmark = [pytest.mark.e2e, pytest.mark.worker]

XSTEST_PROMPTS = (
    Path(__file__).resolve().parents[2] / "labeling" / "demo_data" / "xstest" / "xstest_prompts.csv"
)
# Prompts the generation run answers: two candidates (one per style) and so one pair each.
GENERATED_PROMPTS = 6
CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""
# How every refusal of the offline model server begins ("I can't help with that …").
REFUSES = "can't help with that"


class Problems:
    """Everything that went wrong in any page of the walk, with who saw it and where."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def none_so_far(self) -> None:
        assert self.seen == [], "\n".join(self.seen)

    def watch(self, context: Any, who: str) -> None:
        context.add_init_script(CSP_REPORTER)

        def on_console(message: Any) -> None:
            if message.type == "error":
                self.seen.append(
                    f"{who} · {message.page.url if message.page else '?'}: {message.text}"
                )

        def on_response(response: Any) -> None:
            if response.status >= 500:
                self.seen.append(f"{who}: {response.status} from {response.url}")

        context.on("console", on_console)
        context.on("weberror", lambda error: self.seen.append(f"{who}: {error.error}"))
        context.on("response", on_response)


def sign_in(
    browser: Any, live_server: Any, problems: Problems, username: str, password: str
) -> Any:
    """A fresh browser of ``username``'s own, signed in through the log-in page."""
    context = browser.new_context(base_url=live_server.url)
    problems.watch(context, username)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto("/")
    page.wait_for_url("**/accounts/login/**")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_function("() => !location.pathname.startsWith('/accounts/login/')")
    expect(page.locator(".whoami .user")).to_have_text(username)
    return page


def create_user(page: Any, username: str, role: str) -> str:
    """Create ``username`` with one role on the user pages; the generated password, shown once."""
    page.get_by_role("link", name="Users", exact=True).click()
    page.get_by_role("link", name="New user").click()
    page.fill("#id_username", username)
    page.fill("#id_email", f"{username}@example.org")
    page.locator("#user-create-form").get_by_label(role, exact=True).check()
    page.get_by_label("Generate one (shown once)").check()
    page.get_by_role("button", name="Create user").click()
    password = page.locator("#generated-password").inner_text().strip()
    assert password
    expect(page.locator(".user-facts")).to_contain_text(role)
    return password


def wait_for_new_pair(page: Any, previous: str | None) -> str:
    page.wait_for_function(
        "(previous) => { const root = document.getElementById('annotate-root');"
        " return root && root.dataset.assignment && root.dataset.assignment !== previous"
        " && document.getElementById('judgment-form'); }",
        arg=previous,
    )
    return str(page.locator("#annotate-root").get_attribute("data-assignment"))


def read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    handle = tar.extractfile(member)
    assert handle is not None
    return handle.read().decode()


def rate(page: Any, *, prefer_refusal: bool = False) -> None:
    """Rate the pair shown, by keyboard, as a reader of its two texts would.

    The offline model answers one style with a refusal ("I can't help with that …") and the
    other with a high-level safe completion. By default the safe completion is rated the more
    helpful and slightly preferred; ``prefer_refusal`` rates and prefers the refusal instead.
    """
    left_refuses = REFUSES in page.locator("[data-candidate=left]").inner_text()
    # Mode keys: q w e r t (left) and y u i o p (right) for direct answer, safe completion,
    # refusal with redirection, hard refusal, other; severity a/h = none; helpfulness z x c v
    # (left) and b n m , (right) for 1 to 4; preference 2 = left slightly better, 4 = right.
    left_better = left_refuses == prefer_refusal
    left = ("e" if left_refuses else "w", "a", "c" if left_better else "x")
    right = ("u" if left_refuses else "i", "h", "n" if left_better else "m")
    for key in (*left, *right):
        page.keyboard.press(key)
    page.keyboard.press("2" if left_better else "4")


def judge_all(page: Any, *, first_prefers_refusal: bool = False) -> list[str]:
    """Rate every pair the campaign offers this annotator; the assignments judged."""
    judged: list[str] = []
    current = wait_for_new_pair(page, None)
    while True:
        rate(page, prefer_refusal=first_prefers_refusal and not judged)
        page.keyboard.press("Enter")
        judged.append(current)
        page.wait_for_function(
            "(previous) => { const root = document.getElementById('annotate-root');"
            " return root && root.dataset.assignment !== previous; }",
            arg=current,
        )
        if page.locator("#judgment-form").count() == 0:
            expect(page.get_by_text("No more pairs for you here.")).to_be_visible()
            return judged
        current = str(page.locator("#annotate-root").get_attribute("data-assignment"))


def test_a_newcomers_day_through_every_role(
    browser: Any,
    live_server: Any,
    celery_worker: Any,
    offline_server: Any,  # noqa: F811
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.EXPORTS_DIR = tmp_path / "exports"
    get_resolver().url_patterns  # noqa: B018 - import every view before the browser's timeouts
    # The first admin comes from `manage.py create_user` at installation, not from a page.
    make_user("alice", "admin")
    problems = Problems()

    # 1. The admin: accounts, the model endpoint, the policy editor, the API docs.
    admin = sign_in(browser, live_server, problems, "alice", PASSWORD)
    passwords = {
        name: create_user(admin, name, role)
        for name, role in (
            ("rosa", "Researcher"),
            ("anna", "Annotator"),
            ("ben", "Annotator"),
            ("victor", "Reviewer"),
        )
    }
    admin.get_by_role("link", name="Model endpoints").click()
    admin.get_by_role("link", name="New endpoint").click()
    admin.fill("#id_name", "offline")
    admin.fill("#id_base_url", offline_server.base_url)
    admin.fill("#id_model", "graylab-offline")
    admin.get_by_role("button", name="Save").click()
    admin.wait_for_url("**/endpoints/")
    admin.get_by_role("button", name="Test connection").click()
    expect(admin.locator(".test-result .badge")).to_have_text("ok")
    admin.get_by_role("link", name="Policy", exact=True).click()
    expect(admin.locator("#taxonomy-tree")).to_contain_text("Cybersecurity")
    admin.goto("/api/docs/")
    admin.locator(".opblock-summary-path").first.wait_for()
    paths = admin.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/campaigns/" in path for path in paths), paths[:10]
    problems.none_so_far()

    # 2. The researcher: a campaign, XSTest's prompts with no option, candidates from the worker.
    researcher = sign_in(browser, live_server, problems, "rosa", passwords["rosa"])
    researcher.wait_for_url("**/campaigns/")
    researcher.get_by_role("link", name="New campaign").click()
    researcher.fill("#id_name", "Walk-through")
    researcher.fill("#id_slug", "walk")
    researcher.fill("#id_judgments_per_pair", "2")
    researcher.locator("#id_open_to_all_annotators").uncheck()
    researcher.select_option("#id_members", label="anna")
    researcher.get_by_role("button", name="Save").click()
    researcher.wait_for_url("**/campaigns/walk/")
    researcher.get_by_role("button", name="Open").click()
    expect(researcher.locator(".badge").first).to_have_text("Open")
    researcher.locator("input[type=file][name=file]").first.set_input_files(str(XSTEST_PROMPTS))
    researcher.get_by_role("button", name="Import prompts").click()
    expect(researcher.locator(".messages")).to_contain_text("Imported 450 prompt(s) (xstest)")
    counts = researcher.locator(".counts").inner_text()
    assert re.search(r"450\s+prompts", counts), counts
    assert "benign/general" in researcher.locator("table").first.inner_text()

    researcher.get_by_role("link", name="Generate candidates").click()
    researcher.get_by_label("offline").check()
    researcher.get_by_label("refusal-style").check()
    researcher.get_by_label("safe-completion-style").check()
    researcher.fill("#id_prompt_limit", str(GENERATED_PROMPTS))
    researcher.get_by_role("button", name="Start run").click()
    researcher.wait_for_url("**/runs/*/")
    expect(researcher.locator("#run-progress .badge")).to_have_text("Completed", timeout=60_000)
    expect(researcher.locator("#run-progress strong")).to_have_text(
        f"{2 * GENERATED_PROMPTS} / {2 * GENERATED_PROMPTS}"
    )
    researcher.get_by_role("link", name="Walk-through").click()
    counts = researcher.locator(".counts").inner_text()
    assert re.search(rf"{2 * GENERATED_PROMPTS}\s+candidates", counts), counts
    assert re.search(rf"{GENERATED_PROMPTS}\s+pairs", counts), counts

    researcher.get_by_role("link", name="Data browser").click()
    expect(researcher.locator("#match-count")).to_have_text(f"{GENERATED_PROMPTS} pairs")
    researcher.fill("#browser-search", "python")
    expect(researcher.locator("#match-count")).to_have_text(re.compile(r"^\d+ pairs? match"))
    assert researcher.locator("#browser-table mark").first.inner_text().lower() == "python"
    problems.none_so_far()

    # The admin lets the second annotator into the members-only campaign from his user page.
    admin.goto("/")
    admin.get_by_role("link", name="Users", exact=True).click()
    admin.get_by_role("link", name="ben", exact=True).click()
    admin.locator("#user-edit-form").get_by_label("Walk-through").check()
    admin.get_by_role("button", name="Save").click()
    expect(admin.locator(".messages")).to_contain_text("Saved ben.")

    # 3. The annotators, keyboard only.
    anna = sign_in(browser, live_server, problems, "anna", passwords["anna"])
    anna.wait_for_url("**/work/")
    anna.get_by_role("link", name="Annotate").click()
    first = wait_for_new_pair(anna, None)
    progress = anna.locator("#progress")
    expect(progress).to_contain_text("0 done today")
    expect(progress).to_contain_text(f"{2 * GENERATED_PROMPTS} judgments left in the campaign")
    rate(anna)
    anna.keyboard.press("Enter")
    second = wait_for_new_pair(anna, first)
    expect(progress).to_contain_text("1 done today")
    # Undo the last submit: it opens on its edit page; saving comes back to the pair held.
    anna.keyboard.press("Shift+U")
    anna.wait_for_url("**/work/judgments/*/edit/?from=annotate")
    anna.locator("#rationale").fill("The safe completion helps without operational detail.")
    anna.get_by_role("button", name="Save changes").click()
    anna.wait_for_url("**/campaigns/walk/annotate/")
    assert wait_for_new_pair(anna, first) == second
    edited = Judgment.objects.get(assignment_id=int(first))
    assert edited.rationale.startswith("The safe completion helps")
    assert JudgmentRevision.objects.filter(judgment=edited).count() == 1
    anna_judged = [first, *judge_all(anna)]
    assert len(anna_judged) == GENERATED_PROMPTS
    # My work counts them, and marks the one edited after its submit.
    anna.get_by_role("link", name="Back to my work").click()
    expect(anna.locator("td.num").first).to_have_text(str(GENERATED_PROMPTS))
    expect(anna.locator("span.muted", has_text="edited")).to_have_count(1)

    ben = sign_in(browser, live_server, problems, "ben", passwords["ben"])
    ben.get_by_role("link", name="Annotate").click()
    ben_judged = judge_all(ben, first_prefers_refusal=True)
    assert len(ben_judged) == GENERATED_PROMPTS
    assert Judgment.objects.count() == 2 * GENERATED_PROMPTS
    disputed = Judgment.objects.get(assignment_id=int(ben_judged[0])).pair
    problems.none_so_far()

    # 4. The reviewer resolves the disagreement.
    reviewer = sign_in(browser, live_server, problems, "victor", passwords["victor"])
    reviewer.wait_for_url("**/review/**")
    queue = reviewer.locator("#review-queue tbody tr")
    expect(queue).to_have_count(1)
    expect(queue.first).to_contain_text(f"#{disputed.pk}")
    queue.first.get_by_role("link", name="Review").click()
    expect(reviewer.locator("h1")).to_contain_text(f"Pair #{disputed.pk}")
    reviewer.locator("#review-form").get_by_label("Final labels").check()
    # The reviewer sides with the safe completion (-1: A slightly better, 1: B slightly better).
    a_refuses = "refusal-style" in reviewer.locator(".candidate h2").first.inner_text()
    reviewer.select_option("#id_preference", "1" if a_refuses else "-1")
    reviewer.fill("#id_notes", "The safe completion is the better answer.")
    reviewer.get_by_role("button", name="Save resolution").click()
    expect(reviewer.locator(".messages")).to_contain_text(f"Pair {disputed.pk} resolved.")
    expect(reviewer.locator("#review-queue")).to_have_count(0)
    reviewer.get_by_role("link", name="Resolved").click()
    expect(reviewer.locator("#resolved-reviews tbody tr")).to_have_count(1)
    expect(reviewer.locator("#resolved-reviews tbody tr").first).to_contain_text(f"#{disputed.pk}")
    assert Review.objects.get().pair_id == disputed.pk
    problems.none_so_far()

    # 5. The researcher exports, waits for the worker and downloads the archive.
    researcher.get_by_role("link", name="Exports", exact=True).click()
    researcher.get_by_role("link", name="New export").click()
    researcher.check('input[name="campaigns"][value="walk"]')
    # A pilot this small needs wider validation and test shares to fill every split.
    researcher.fill("#id_train", "0.5")
    researcher.fill("#id_validation", "0.25")
    researcher.fill("#id_test", "0.25")
    expect(researcher.locator("#preview")).to_contain_text(
        f"{GENERATED_PROMPTS} of {GENERATED_PROMPTS} pairs qualify"
    )
    researcher.get_by_role("button", name="Run export").click()
    researcher.wait_for_url("**/exports/*/")
    download_link = researcher.get_by_role("link", name=re.compile(r"^Download "))
    download_link.wait_for(timeout=60_000)
    # The learnability report follows on the worker and packs the archive again: download
    # the archive as it stays.
    expect(researcher.locator("#export-learnability h2")).to_have_text("Learnability")
    expect(researcher.locator(".learnability-computing")).to_have_count(0, timeout=60_000)
    with researcher.expect_download() as download:
        download_link.click()
    archive = tmp_path / download.value.suggested_filename
    download.value.save_as(archive)
    with tarfile.open(archive) as tar:
        members = {
            Path(member.name).relative_to(Path(member.name).parts[0]).as_posix(): member
            for member in tar.getmembers()
            if member.isfile()
        }
        for name in ("train.jsonl", "validation.jsonl", "test.jsonl", "manifest.json"):
            assert name in members, sorted(members)
        rows = [
            json.loads(line)
            for split in ("train", "validation", "test")
            for line in read_member(tar, members[f"{split}.jsonl"]).splitlines()
        ]
        manifest = json.loads(read_member(tar, members["manifest.json"]))
    # One row per pair, the reviewer's resolution included; every one chooses the safe
    # completion over the refusal, as the annotators and the reviewer did.
    assert sorted(int(row["pair_id"]) for row in rows) == sorted(
        Pair.objects.values_list("pk", flat=True)
    )
    assert all(REFUSES in row["rejected"][0]["content"] for row in rows), rows
    assert not any(REFUSES in row["chosen"][0]["content"] for row in rows), rows
    assert manifest["counts"]["rows_written"] == GENERATED_PROMPTS

    assert Prompt.objects.count() == 450
    assert Candidate.objects.count() == 2 * GENERATED_PROMPTS
    assert Pair.objects.count() == GENERATED_PROMPTS
    problems.none_so_far()
