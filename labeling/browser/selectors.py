"""Reads of the data browser: the query a page or API call names, its rows, keyset pages.

A :class:`BrowserQuery` is everything a view of the browser is made of — the table, the
search, the filters, the sort, the page size and the cursor — parsed from a query string, so
a view is a URL: bookmarkable, shareable, and what the back button returns to.

Search is PostgreSQL full-text search (``websearch_to_tsquery`` against the stored ``tsvector``
columns of ``search_index``, read through their GIN indexes: quotes for phrases, ``or``,
``-word``); elsewhere (the SQLite demo) every word of the search must occur in the text,
case-insensitively. Pages are keyset pages (``after``/``before`` a sort key), so a page costs
the same wherever it is and rows do not shift when others are added.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db.models import (
    BooleanField,
    Exists,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
)
from django.db.models.expressions import Expression
from django.db.models.functions import Cast

from labeling.database import is_postgresql
from labeling.models import Campaign, Candidate, Judgment, Pair, Prompt, ReviewRequest
from policy.rubric import FLAGS, INTENTS

from .search_index import CAMPAIGN_COLUMN, SEARCH_COLUMN, SEARCH_CONFIG

TABLES = ("pairs", "prompts", "candidates", "judgments")
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
SEARCH_MAX_LENGTH = 200
# Counting stops here: "more than 10,000" costs a bounded read however common a word is, where
# an exact count of a million matches reads every one of them.
COUNT_CAP = 10_000
AGREEMENT_CHOICES = {"agree": "all agree", "disagree": "disagreement"}
GOLD_CHOICES = {"yes": "gold only", "no": "not gold"}
EXCLUDED_CHOICES = {"yes": "excluded from exports", "no": "not excluded"}
REVIEW_CHOICES = {
    "unreviewed": "no review yet",
    "requested": "waiting in the review queue (sent)",
    "resolved": "resolved with labels",
    "discarded": "discarded by a reviewer",
}
FLAG_CHOICES = {"any": "any flag", **{flag: flag.replace("_", " ") for flag in FLAGS}}
# Sorts per table: name -> the keys of the keyset (all integers, the id last), descending when
# "-"; a sort's keys all run the same way.
SORTS: dict[str, dict[str, tuple[str, ...]]] = {
    "pairs": {
        "newest": ("-id",),
        "oldest": ("id",),
        "most-judged": ("-judgment_count", "-id"),
        "least-judged": ("judgment_count", "id"),
    },
    "prompts": {"newest": ("-id",), "oldest": ("id",)},
    "candidates": {"newest": ("-id",), "oldest": ("id",)},
    "judgments": {"newest": ("-id",), "oldest": ("id",)},
}
SORT_LABELS = {
    "newest": "newest first",
    "oldest": "oldest first",
    "most-judged": "most judgments first",
    "least-judged": "fewest judgments first",
}
# Which filters each table reads (the search reads every table's own text).
TABLE_FILTERS: dict[str, tuple[str, ...]] = {
    "prompts": ("category", "intent"),
    "candidates": ("category", "intent", "source", "model", "style"),
    "pairs": (
        "category",
        "intent",
        "source",
        "model",
        "style",
        "judgments_min",
        "judgments_max",
        "agreement",
        "flag",
        "gold",
        "review",
        "excluded",
    ),
}
TABLE_FILTERS["judgments"] = TABLE_FILTERS["pairs"]


@dataclass(frozen=True)
class BrowserQuery:
    """One view of the browser: what the URL's query string says."""

    table: str = "pairs"
    q: str = ""
    category: str = ""
    intent: str = ""
    source: str = ""
    model: str = ""
    style: str = ""
    judgments_min: int | None = None
    judgments_max: int | None = None
    agreement: str = ""
    flag: str = ""
    gold: str = ""
    review: str = ""
    excluded: str = ""
    sort: str = "newest"
    size: int = DEFAULT_PAGE_SIZE
    after: str = ""
    before: str = ""

    def params(self, **changes: Any) -> str:
        """The query string of this view (with ``changes``), defaults left out."""
        query = replace(self, **changes)
        default = BrowserQuery()
        pairs = []
        for field in fields(BrowserQuery):
            value = getattr(query, field.name)
            if value != getattr(default, field.name) and value not in (None, ""):
                pairs.append((field.name, value))
        return urlencode(pairs)

    def filter_params(self) -> str:
        """This view's query string without its cursor (the same rows from the first page)."""
        return self.params(after="", before="")

    @property
    def filtered(self) -> bool:
        return any(
            getattr(self, name) not in (None, "")
            for name in ("q", *TABLE_FILTERS.get(self.table, ()))
        )


def _int_or_error(raw: str, name: str, errors: dict[str, str]) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit():
        errors[name] = "must be a whole number of 0 or more"
        return None
    return int(raw)


def _choice(raw: str, name: str, allowed: Any, errors: dict[str, str]) -> str:
    value = raw.strip()
    if value and value not in allowed:
        errors[name] = f"must be one of {', '.join(allowed)}"
        return ""
    return value


def query_parse(params: Mapping[str, Any]) -> BrowserQuery:
    """The view named by a query string (or a JSON object); a bad value raises
    ``ValidationError({field: reason})`` naming it."""

    def text(name: str) -> str:
        value = params.get(name, "")
        return "" if value is None else str(value)

    errors: dict[str, str] = {}
    table = _choice(text("table") or "pairs", "table", TABLES, errors) or "pairs"
    q = " ".join(text("q").split())
    if len(q) > SEARCH_MAX_LENGTH:
        errors["q"] = f"at most {SEARCH_MAX_LENGTH} characters"
    sort = text("sort") or "newest"
    if sort not in SORTS[table]:
        errors["sort"] = f"must be one of {', '.join(SORTS[table])}"
        sort = "newest"
    size_raw = text("size") or str(DEFAULT_PAGE_SIZE)
    size = DEFAULT_PAGE_SIZE
    if not size_raw.isdigit() or int(size_raw) not in PAGE_SIZES:
        errors["size"] = f"must be one of {', '.join(str(s) for s in PAGE_SIZES)}"
    else:
        size = int(size_raw)
    cursors = {}
    for name in ("after", "before"):
        value = text(name).strip()
        if value and _cursor_values(value, len(SORTS[table][sort])) is None:
            errors[name] = "not a page of this sort; start again from the first page"
            value = ""
        cursors[name] = value
    query = BrowserQuery(
        table=table,
        q=q,
        category=text("category").strip().strip("/"),
        intent=_choice(text("intent"), "intent", INTENTS, errors),
        source=text("source").strip(),
        model=text("model").strip(),
        style=text("style").strip(),
        judgments_min=_int_or_error(text("judgments_min"), "judgments_min", errors),
        judgments_max=_int_or_error(text("judgments_max"), "judgments_max", errors),
        agreement=_choice(text("agreement"), "agreement", AGREEMENT_CHOICES, errors),
        flag=_choice(text("flag"), "flag", FLAG_CHOICES, errors),
        gold=_choice(text("gold"), "gold", GOLD_CHOICES, errors),
        review=_choice(text("review"), "review", REVIEW_CHOICES, errors),
        excluded=_choice(text("excluded"), "excluded", EXCLUDED_CHOICES, errors),
        sort=sort,
        size=size,
        after=cursors["after"],
        before=cursors["before"],
    )
    if errors:
        raise ValidationError(errors)
    return query


# --- search ---------------------------------------------------------------------------------


def search_words(q: str) -> list[str]:
    """The words a search looks for (what the portable path requires and highlights mark):
    quotes, ``or`` and excluded ``-words`` are PostgreSQL's syntax, not words to find."""
    words = []
    for token in re.findall(r"-?\w+", q):
        if token.startswith("-") or token.lower() == "or":
            continue
        words.append(token)
    return words


class SearchMatch(Expression):
    """``<table>.search_vector @@ websearch_to_tsquery(<config>, q)`` on the queryset's own
    table, under whatever alias it gets (a subquery renames it): the column is no model
    field, so an ``F()`` cannot name it. With ``campaign_id`` (candidates only), also the
    candidate's own campaign column (see ``search_index``)."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, q: str, alias: str | None = None, *, campaign_id: int | None = None):
        super().__init__()
        self.q = q
        self.alias = alias
        self.campaign_id = campaign_id

    def resolve_expression(self, query: Any = None, *args: Any, **kwargs: Any) -> SearchMatch:
        return SearchMatch(self.q, query.get_initial_alias(), campaign_id=self.campaign_id)

    def relabeled_clone(self, change_map: Mapping[str, str]) -> SearchMatch:
        assert self.alias is not None
        alias = change_map.get(self.alias, self.alias)
        return SearchMatch(self.q, alias, campaign_id=self.campaign_id)

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        assert self.alias is not None
        table = compiler.quote_name_unless_alias(self.alias)
        sql = f"{table}.{SEARCH_COLUMN} @@ websearch_to_tsquery(%s::regconfig, %s)"
        params: list[Any] = [SEARCH_CONFIG, self.q]
        if self.campaign_id is not None:
            sql = f"({table}.{CAMPAIGN_COLUMN} = %s AND {sql})"
            params.insert(0, self.campaign_id)
        return sql, params


def _words_in(field: str, words: list[str]) -> Q:
    condition = Q()
    for word in words:
        condition &= Q(**{f"{field}__icontains": word})
    return condition


def prompts_matching_text(prompts: QuerySet[Prompt], q: str) -> QuerySet[Prompt]:
    if not q:
        return prompts
    if is_postgresql():
        return prompts.filter(SearchMatch(q))
    return prompts.annotate(messages_text=Cast("messages", TextField())).filter(
        _words_in("messages_text", search_words(q))
    )


def candidates_matching_text(candidates: QuerySet[Candidate], q: str) -> QuerySet[Candidate]:
    if not q:
        return candidates
    if is_postgresql():
        return candidates.filter(SearchMatch(q))
    return candidates.filter(_words_in("text", search_words(q)))


def campaign_candidates_matching_text(campaign: Campaign, q: str) -> QuerySet[Candidate]:
    """The campaign's candidates whose text matches ``q`` (all of them when it is empty)."""
    if q and is_postgresql():
        # The campaign from the candidate's own row: no prompt looked up per match.
        return Candidate.objects.filter(SearchMatch(q, campaign_id=campaign.pk))
    return candidates_matching_text(Candidate.objects.filter(prompt__campaign=campaign), q)


# --- filters --------------------------------------------------------------------------------


def _category(prefix: str, path: str) -> Q:
    # A path selects itself and its whole subtree (an area selects all its leaves).
    return Q(**{f"{prefix}category_path": path}) | Q(
        **{f"{prefix}category_path__startswith": path + "/"}
    )


def _prompt_filters(query: BrowserQuery, prefix: str) -> Q:
    condition = Q()
    if query.category:
        condition &= _category(prefix, query.category)
    if query.intent:
        condition &= Q(**{f"{prefix}intent": query.intent})
    return condition


def _candidate_filters(query: BrowserQuery, prefix: str) -> Q:
    condition = Q()
    for name in ("source", "model", "style"):
        value = getattr(query, name)
        if value:
            condition &= Q(**{f"{prefix}{name}": value})
    return condition


def _flagged(query_flag: str, pair_ref: Any) -> Exists:
    judgments = Judgment.objects.filter(pair_id=pair_ref)
    if query_flag == "any":
        judgments = judgments.exclude(flags=[])
    else:
        # The stored list as text holds each flag as a quoted JSON string, on either database.
        judgments = judgments.annotate(flags_text=Cast("flags", TextField())).filter(
            flags_text__contains=f'"{query_flag}"'
        )
    return Exists(judgments)


def open_request_condition() -> Q:
    """On ``ReviewRequest``: still open (no review, or a review older than the request)."""
    return Q(pair__review__isnull=True) | Q(pair__review__updated_at__lt=F("created_at"))


def _preference_bound(aggregate: Any) -> Subquery:
    return Subquery(
        Judgment.objects.filter(pair_id=OuterRef("pk"))
        .values("pair_id")
        .annotate(bound=aggregate)
        .values("bound"),
        output_field=IntegerField(),
    )


def pairs_matching(campaign: Campaign, query: BrowserQuery) -> QuerySet[Pair]:
    """The campaign's pairs that the query's search and pair filters select."""
    pairs = Pair.objects.filter(campaign=campaign)
    pairs = pairs.filter(_prompt_filters(query, "prompt__"))
    sides = _candidate_filters(query, "candidate_a__") | _candidate_filters(query, "candidate_b__")
    if _candidate_filters(query, ""):
        pairs = pairs.filter(sides)
    if query.judgments_min is not None:
        pairs = pairs.filter(judgment_count__gte=query.judgments_min)
    if query.judgments_max is not None:
        pairs = pairs.filter(judgment_count__lte=query.judgments_max)
    if query.gold:
        pairs = pairs.filter(is_gold=query.gold == "yes")
    if query.excluded:
        pairs = pairs.filter(export_exclusion__isnull=query.excluded == "no")
    if query.review == "unreviewed":
        pairs = pairs.filter(review__isnull=True)
    elif query.review == "resolved":
        pairs = pairs.filter(review__resolution="labels")
    elif query.review == "discarded":
        pairs = pairs.filter(review__resolution="discard")
    elif query.review == "requested":
        pairs = pairs.filter(
            Exists(ReviewRequest.objects.filter(open_request_condition(), pair_id=OuterRef("pk")))
        )
    if query.flag and query.table == "pairs":
        pairs = pairs.filter(_flagged(query.flag, OuterRef("pk")))
    if query.agreement:
        pairs = pairs.annotate(
            preference_min=_preference_bound(Min("preference")),
            preference_max=_preference_bound(Max("preference")),
        )
        if query.agreement == "agree":
            # Two or more judgments, every preference pointing the same way (A, equal, B).
            pairs = pairs.filter(judgment_count__gte=2).filter(
                Q(preference_max__lt=0)
                | Q(preference_min__gt=0)
                | Q(preference_min=0, preference_max=0)
            )
        else:
            # The review queue's preference rule: opposite directions, or two steps apart.
            pairs = pairs.filter(
                Q(preference_min__lt=0, preference_max__gt=0)
                | Q(preference_max__gte=F("preference_min") + 2)
            )
    if query.q:
        prompts = prompts_matching_text(Prompt.objects.filter(campaign=campaign), query.q)
        candidates = campaign_candidates_matching_text(campaign, query.q)
        pairs = pairs.filter(
            Q(prompt_id__in=prompts.values("id"))
            | Q(candidate_a_id__in=candidates.values("id"))
            | Q(candidate_b_id__in=candidates.values("id"))
        )
    return pairs


def rows_matching(campaign: Campaign, query: BrowserQuery) -> QuerySet[Any]:
    """The rows of the query's table that its search and filters select (unordered)."""
    if query.table == "prompts":
        prompts = Prompt.objects.filter(campaign=campaign).filter(_prompt_filters(query, ""))
        return prompts_matching_text(prompts, query.q)
    if query.table == "candidates":
        return campaign_candidates_matching_text(campaign, query.q).filter(
            _prompt_filters(query, "prompt__"), _candidate_filters(query, "")
        )
    if query.table == "judgments":
        judgments = Judgment.objects.filter(pair__campaign=campaign)
        if query.filtered:
            judgments = judgments.filter(pair_id__in=pairs_matching(campaign, query).values("id"))
        if query.flag:
            # The judgment's own flags, not its pair's.
            judgments = (
                judgments.exclude(flags=[])
                if query.flag == "any"
                else judgments.annotate(flags_text=Cast("flags", TextField())).filter(
                    flags_text__contains=f'"{query.flag}"'
                )
            )
        return judgments
    return pairs_matching(campaign, query)


# --- keyset pages ---------------------------------------------------------------------------


@dataclass
class Page:
    rows: list[Any]
    count: int
    next_cursor: str
    previous_cursor: str
    keys: tuple[str, ...]
    # Where counting stopped: a count above it means "more than ``cap``".
    cap: int = COUNT_CAP

    @property
    def count_capped(self) -> bool:
        return self.count > self.cap

    @property
    def count_at_least(self) -> int:
        return self.cap + 1 if self.count_capped else self.count

    @property
    def count_text(self) -> str:
        return f"more than {self.cap:,}" if self.count_capped else f"{self.count:,}"


def _cursor_values(cursor: str, width: int) -> tuple[int, ...] | None:
    parts = cursor.split("_")
    if len(parts) != width or not all(part.lstrip("-").isdigit() for part in parts):
        return None
    return tuple(int(part) for part in parts)


def _cursor_of(row: Any, keys: tuple[str, ...]) -> str:
    return "_".join(str(getattr(row, key.lstrip("-"))) for key in keys)


def _beyond(keys: tuple[str, ...], values: tuple[int, ...], *, forward: bool) -> Q:
    """Rows past ``values`` in the order of ``keys`` (or before them when not ``forward``)."""
    condition = Q()
    equal = Q()
    for key, value in zip(keys, values, strict=True):
        name = key.lstrip("-")
        descending = key.startswith("-")
        lookup = "lt" if descending == forward else "gt"
        condition |= equal & Q(**{f"{name}__{lookup}": value})
        equal &= Q(**{name: value})
    return condition


def page_of(rows: QuerySet[Any], query: BrowserQuery, *, count: bool = True) -> Page:
    """One keyset page of ``rows`` in the query's sort, with cursors to its neighbours, and
    how many rows match (up to ``COUNT_CAP`` + 1: more shows as "more than 10,000").

    Counting reads the sort keys of the matches (up to the cap + 1). When that is all of
    them, the page is cut from those keys: a search's index scan is most of its cost, and
    this way it runs once. Past the cap the page is read in the sort's order, where the many
    matches make its first rows quick to find."""
    keys = SORTS[query.table][query.sort]
    cap = COUNT_CAP
    if not count:
        return _page_read(rows, query, keys, total=-1, cap=cap)
    names = [key.lstrip("-") for key in keys]
    matched = list(rows.order_by().values_list(*names)[: cap + 1])
    if len(matched) > cap:
        return _page_read(rows, query, keys, total=len(matched), cap=cap)
    return _page_cut(rows, query, keys, matched, cap=cap)


def _page_cut(
    rows: QuerySet[Any],
    query: BrowserQuery,
    keys: tuple[str, ...],
    matched: list[tuple[int, ...]],
    *,
    cap: int,
) -> Page:
    """The page of ``query`` among every match, given their sort keys."""
    descending = keys[0].startswith("-")
    assert all(key.startswith("-") == descending for key in keys)  # see SORTS
    ordered = sorted(matched, reverse=descending)

    size = query.size
    cursor = _cursor_values(query.before or query.after, len(keys)) or ()
    if query.before:
        earlier = [
            values for values in ordered if (values > cursor if descending else values < cursor)
        ]
        chosen = earlier[-size:]
        more_before, more_after = len(earlier) > size, True
    else:
        later = [
            values
            for values in ordered
            if not cursor or (values < cursor if descending else values > cursor)
        ]
        chosen = later[:size]
        more_before, more_after = bool(cursor), len(later) > size
    # Every sort ends with the id.
    found = rows.model._default_manager.in_bulk([values[-1] for values in chosen])
    page_rows = [found[values[-1]] for values in chosen if values[-1] in found]
    return Page(
        rows=page_rows,
        count=len(matched),
        next_cursor="_".join(map(str, chosen[-1])) if chosen and more_after else "",
        previous_cursor="_".join(map(str, chosen[0])) if chosen and more_before else "",
        keys=keys,
        cap=cap,
    )


def _page_read(
    rows: QuerySet[Any], query: BrowserQuery, keys: tuple[str, ...], *, total: int, cap: int
) -> Page:
    """The page of ``query`` read from the database in the sort's order."""
    reverse_keys = tuple(key[1:] if key.startswith("-") else f"-{key}" for key in keys)
    size = query.size
    if query.before:
        values = _cursor_values(query.before, len(keys))
        assert values is not None  # checked by query_parse
        found = list(
            rows.filter(_beyond(keys, values, forward=False)).order_by(*reverse_keys)[: size + 1]
        )
        more_before = len(found) > size
        found = found[:size][::-1]
        return Page(
            rows=found,
            count=total,
            next_cursor=_cursor_of(found[-1], keys) if found else "",
            previous_cursor=_cursor_of(found[0], keys) if found and more_before else "",
            keys=keys,
            cap=cap,
        )
    if query.after:
        values = _cursor_values(query.after, len(keys))
        assert values is not None
        rows = rows.filter(_beyond(keys, values, forward=True))
    found = list(rows.order_by(*keys)[: size + 1])
    more_after = len(found) > size
    found = found[:size]
    return Page(
        rows=found,
        count=total,
        next_cursor=_cursor_of(found[-1], keys) if found and more_after else "",
        previous_cursor=_cursor_of(found[0], keys) if found and query.after else "",
        keys=keys,
        cap=cap,
    )


def page_rows_loaded(page: Page, query: BrowserQuery) -> None:
    """Load what the table's rows show (relations, per-pair facts) for this page only."""
    ids = [row.pk for row in page.rows]
    if query.table == "pairs":
        pairs = Pair.objects.select_related(
            "prompt", "candidate_a", "candidate_b", "review", "export_exclusion"
        ).in_bulk(ids)
        page.rows = [pairs[pk] for pk in ids]
        _annotate_pairs(page.rows)
    elif query.table == "candidates":
        candidates = Candidate.objects.select_related("prompt").in_bulk(ids)
        page.rows = [candidates[pk] for pk in ids]
    elif query.table == "judgments":
        judgments = Judgment.objects.select_related(
            "annotator", "pair__prompt", "pair__candidate_a", "pair__candidate_b"
        ).in_bulk(ids)
        page.rows = [judgments[pk] for pk in ids]
    elif query.table == "prompts":
        prompts = Prompt.objects.in_bulk(ids)
        page.rows = [prompts[pk] for pk in ids]


def _annotate_pairs(pairs: list[Pair]) -> None:
    """Each pair's agreement (from its judgments' preferences) and open review request."""
    ids = [pair.pk for pair in pairs]
    bounds = {
        row["pair_id"]: row
        for row in Judgment.objects.filter(pair_id__in=ids)
        .values("pair_id")
        .annotate(low=Min("preference"), high=Max("preference"))
        .order_by()
    }
    requested = set(
        ReviewRequest.objects.filter(open_request_condition(), pair_id__in=ids).values_list(
            "pair_id", flat=True
        )
    )
    for pair in pairs:
        row = bounds.get(pair.pk)
        agreement = ""
        if row and pair.judgment_count >= 2:
            low, high = row["low"], row["high"]
            if (low < 0 < high) or high - low >= 2:
                agreement = "disagree"
            elif high < 0 or low > 0 or low == high == 0:
                agreement = "agree"
        pair.browser_agreement = agreement  # type: ignore[attr-defined]
        pair.browser_requested = pair.pk in requested  # type: ignore[attr-defined]
        pair.browser_excluded = hasattr(pair, "export_exclusion")  # type: ignore[attr-defined]


def prompt_text(prompt: Prompt) -> str:
    """A prompt's messages as one text (what its search column holds, roles aside)."""
    return "\n".join(
        str(message.get("content", ""))
        for message in prompt.messages or []
        if isinstance(message, dict)
    )
