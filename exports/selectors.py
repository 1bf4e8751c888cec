"""Reads: who may see which export, and the one streamed query every export reads."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    FilteredRelation,
    OuterRef,
    Q,
    QuerySet,
    TextField,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce
from django.http import Http404

from accounts.roles import Role, has_role
from labeling.database import is_postgresql
from labeling.models import (
    Campaign,
    ConsensusRun,
    Grade,
    GraderVersion,
    Judgment,
    Pair,
)
from policy.models import PolicyVersion
from policy.rubric import (
    JUDGMENT_RATING_COLUMNS,
    PREFERENCE_FIELD,
    RESPONSE_MODE_FIELD,
    SEVERITY_FIELD,
)

from .aggregation import ConsensusLabels
from .models import Export, LearnabilityEstimate
from .spec import ExportSpec

STREAM_CHUNK_SIZE = 2000


def exports_for_user(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Export]:
    """Exports the user may see: admins see all, researchers their own, others none."""
    queryset = Export.objects.select_related("created_by", "policy_version")
    if has_role(user, Role.ADMIN):
        return queryset
    if has_role(user, Role.RESEARCHER):
        return queryset.filter(created_by_id=user.pk)
    return queryset.none()


def export_for_user(user: AbstractBaseUser | AnonymousUser, export_id: Any) -> Export:
    """The one permission-checked fetch of an export (404 when absent or not the user's)."""
    try:
        key = uuid.UUID(str(export_id))
    except ValueError as error:
        raise Http404("No such export") from error
    try:
        return exports_for_user(user).get(pk=key)
    except Export.DoesNotExist as error:
        raise Http404("No such export") from error


def estimate_for_user(
    user: AbstractBaseUser | AnonymousUser, estimate_id: Any
) -> LearnabilityEstimate:
    """A learnability estimate, only to who asked for it (and admins); 404 otherwise."""
    try:
        key = uuid.UUID(str(estimate_id))
    except ValueError as error:
        raise Http404("No such estimate") from error
    queryset = LearnabilityEstimate.objects.all()
    if not has_role(user, Role.ADMIN):
        queryset = (
            queryset.filter(created_by_id=user.pk)
            if has_role(user, Role.RESEARCHER)
            else queryset.none()
        )
    try:
        return queryset.get(pk=key)
    except LearnabilityEstimate.DoesNotExist as error:
        raise Http404("No such estimate") from error


def campaigns_for_export(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Campaign]:
    """Campaigns a researcher or admin may export (all of them)."""
    if not has_role(user, Role.RESEARCHER, Role.ADMIN):
        return Campaign.objects.none()
    return Campaign.objects.select_related("policy_version").order_by("slug")


def export_policy_version(spec: ExportSpec) -> PolicyVersion | None:
    """The policy version an export names: the chosen one, else the newest its campaigns pin."""
    if spec.policy_version is not None:
        return PolicyVersion.objects.filter(number=spec.policy_version).first()
    return (
        PolicyVersion.objects.filter(campaign__slug__in=spec.campaigns).order_by("-number").first()
    )


def _category_filter(paths: tuple[str, ...]) -> Q:
    # A path selects itself and its whole subtree: a leaf, or every leaf under an area.
    condition = Q()
    for path in paths:
        condition |= Q(prompt__category_path=path) | Q(prompt__category_path__startswith=path + "/")
    return condition


def selected_pairs(spec: ExportSpec, *, as_of: dt.datetime) -> QuerySet[Pair]:
    """Pairs inside the selection's campaigns, categories and intents, made by ``as_of``."""
    queryset = Pair.objects.filter(prompt__campaign__slug__in=spec.campaigns, created_at__lte=as_of)
    if spec.categories:
        queryset = queryset.filter(_category_filter(spec.categories))
    if spec.intents:
        queryset = queryset.filter(prompt__intent__in=spec.intents)
    return queryset


def _prompt_condition(spec: ExportSpec, prefix: str) -> Q:
    """The selection's campaigns, categories and intents, on a prompt reached by ``prefix``."""
    condition = Q(**{f"{prefix}campaign__slug__in": spec.campaigns})
    if spec.categories:
        paths = Q()
        for path in spec.categories:
            paths |= Q(**{f"{prefix}category_path": path}) | Q(
                **{f"{prefix}category_path__startswith": path + "/"}
            )
        condition &= paths
    if spec.intents:
        condition &= Q(**{f"{prefix}intent__in": spec.intents})
    return condition


def grades_in_selection(
    spec: ExportSpec, *, as_of: dt.datetime, version: Any = None
) -> QuerySet[Grade]:
    """Grades of the selection's candidates and pairs made by ``as_of`` (of one version, if
    ``version`` is given — an id, or an ``OuterRef``)."""
    queryset = Grade.objects.filter(created_at__lte=as_of).filter(
        Q(kind=Grade.Kind.CANDIDATE) & _prompt_condition(spec, "candidate__prompt__")
        | Q(kind=Grade.Kind.PAIR, pair__created_at__lte=as_of)
        & _prompt_condition(spec, "pair__prompt__")
    )
    if version is not None:
        queryset = queryset.filter(grader_version_id=version)
    return queryset


def export_grader_version(spec: ExportSpec, *, as_of: dt.datetime) -> GraderVersion | None:
    """The grader version an export's labels come from.

    The version named in the spec, else the grader's newest version with a grade in the
    selection; None when the spec names no grader or nothing matches.
    """
    if spec.grader is None:
        return None
    versions = GraderVersion.objects.select_related("grader", "endpoint", "policy_version").filter(
        grader__name=spec.grader
    )
    if spec.grader_version is not None:
        return versions.filter(number=spec.grader_version).first()
    graded = grades_in_selection(spec, as_of=as_of, version=OuterRef("pk"))
    return versions.filter(Exists(graded)).order_by("-number").first()


def _judgment_condition(spec: ExportSpec, as_of: dt.datetime, prefix: str = "") -> Q:
    """Which judgments count, on ``Judgment`` itself (``prefix=""``) or through a relation."""

    def q(lookup: str, value: Any) -> Q:
        return Q(**{prefix + lookup: value})

    # The selection is frozen at the export's creation: later judgments never leak in.
    condition = q("created_at__lte", as_of)
    if spec.date_from:
        start = dt.datetime.combine(dt.date.fromisoformat(spec.date_from), dt.time.min, dt.UTC)
        condition &= q("created_at__gte", start)
    if spec.date_to:
        end = dt.datetime.combine(
            dt.date.fromisoformat(spec.date_to) + dt.timedelta(days=1), dt.time.min, dt.UTC
        )
        condition &= q("created_at__lt", end)
    if spec.policy_version is not None:
        # A FilteredRelation condition cannot follow a further relation, so match on the id.
        version_id = (
            PolicyVersion.objects.filter(number=spec.policy_version)
            .values_list("id", flat=True)
            .first()
        )
        condition &= q("policy_version_id", version_id if version_id is not None else -1)
    return condition


# Columns of a pair, in order: the stream's rows start with these.
PAIR_COLUMNS: tuple[str, ...] = (
    "prompt__category_path",
    "prompt_id",
    "id",
    "prompt__intent",
    "prompt__content_hash",
    "messages_text",
    "candidate_a_id",
    "candidate_a__text",
    "candidate_b_id",
    "candidate_b__text",
    "prior_preference",
    "review__resolution",
    "final_labels_text",
    # Set when the pair was excluded from exports (the data browser): it is left out, counted.
    "export_exclusion__id",
)
# Columns of a judgment the pipeline reads; the judgments format also reads the details.
JUDGMENT_COLUMNS: tuple[str, ...] = ("id", *JUDGMENT_RATING_COLUMNS, "annotator_id")
DETAIL_COLUMNS: tuple[str, ...] = (
    "annotator__username",
    "rationale",
    "flags_text",
    "flag_note",
    "left_is_a",
    "time_on_task_ms",
    "created_at",
    # The id, not the number: a join through the filtered relation would be emitted before it.
    "policy_version_id",
)


# Columns of a grader version's grades of a pair (each order) and of its two candidates; they
# follow PAIR_COLUMNS when an export uses grades. At most one grade matches each join (one per
# version, item and order is a database constraint), so a pair stays one row.
PAIR_GRADE_COLUMNS: tuple[str, ...] = ("id", "preference", "confidence")
CANDIDATE_GRADE_COLUMNS: tuple[str, ...] = (
    "id",
    "response_mode",
    "severity",
    "helpfulness",
    "confidence",
)
GRADE_COLUMNS: tuple[str, ...] = (
    *(f"grade_ab__{column}" for column in PAIR_GRADE_COLUMNS),
    *(f"grade_ba__{column}" for column in PAIR_GRADE_COLUMNS),
    *(f"grade_a__{column}" for column in CANDIDATE_GRADE_COLUMNS),
    *(f"grade_b__{column}" for column in CANDIDATE_GRADE_COLUMNS),
)


def _grade_relations(version_id: int, as_of: dt.datetime) -> dict[str, FilteredRelation]:
    def condition(relation: str, **lookups: Any) -> Q:
        lookups.update(grader_version_id=version_id, created_at__lte=as_of)
        return Q(**{f"{relation}__{key}": value for key, value in lookups.items()})

    return {
        "grade_ab": FilteredRelation(
            "grades", condition=condition("grades", kind=Grade.Kind.PAIR, order=Grade.Order.AB)
        ),
        "grade_ba": FilteredRelation(
            "grades", condition=condition("grades", kind=Grade.Kind.PAIR, order=Grade.Order.BA)
        ),
        "grade_a": FilteredRelation(
            "candidate_a__grades",
            condition=condition("candidate_a__grades", kind=Grade.Kind.CANDIDATE),
        ),
        "grade_b": FilteredRelation(
            "candidate_b__grades",
            condition=condition("candidate_b__grades", kind=Grade.Kind.CANDIDATE),
        ),
    }


def _pair_columns(version_id: int | None) -> tuple[str, ...]:
    return PAIR_COLUMNS + (GRADE_COLUMNS if version_id is not None else ())


def _judgment_columns(with_details: bool) -> tuple[str, ...]:
    return JUDGMENT_COLUMNS + (DETAIL_COLUMNS if with_details else ())


def _pair_queryset(
    spec: ExportSpec, as_of: dt.datetime, version_id: int | None = None
) -> QuerySet[Pair]:
    queryset = selected_pairs(spec, as_of=as_of).annotate(
        messages_text=Cast("prompt__messages", TextField()),
        final_labels_text=Cast("review__final_labels", TextField()),
    )
    if version_id is not None:
        queryset = queryset.annotate(**_grade_relations(version_id, as_of))
    return queryset


def export_rows(
    spec: ExportSpec,
    *,
    as_of: dt.datetime,
    with_details: bool = False,
    version_id: int | None = None,
) -> QuerySet[Pair, tuple[Any, ...]]:
    """The joined rows of an export, one per (pair, judgment), ordered by category, prompt, pair.

    Judgments of one pair — and pairs of one prompt — are adjacent. Judgments are a LEFT JOIN
    (FilteredRelation) so pairs judged by nobody still come through for prior labels and for
    the left-out counts. Judgment columns are NULL for a pair without judgments. With a grader
    version, its grades' :data:`GRADE_COLUMNS` follow the pair's columns.
    """
    annotations: dict[str, Any] = {
        "j": FilteredRelation(
            "judgments", condition=_judgment_condition(spec, as_of, "judgments__")
        )
    }
    if with_details:
        annotations["flags_text"] = Cast("j__flags", TextField())
    columns = _pair_columns(version_id) + tuple(
        column if column == "flags_text" else f"j__{column}"
        for column in _judgment_columns(with_details)
    )
    return (
        _pair_queryset(spec, as_of, version_id)
        .annotate(**annotations)
        .order_by("prompt__category_path", "prompt_id", "id", "j__id")
        .values_list(*columns)
    )


def stream_export_rows(
    spec: ExportSpec,
    *,
    as_of: dt.datetime,
    with_details: bool = False,
    version_id: int | None = None,
) -> Iterator[tuple[Any, ...]]:
    """One row per pair, ordered by category, prompt and pair, memory flat whatever the size.

    A row is the pair's :data:`PAIR_COLUMNS` followed by one list per judgment column (the
    pair's judgments in id order; empty lists for a pair judged by nobody). With a grader
    version (``version_id``), the pair's columns are followed by :data:`GRADE_COLUMNS` of that
    version's grades (NULL where it graded nothing), before the judgment lists.

    On PostgreSQL the judgments are aggregated per pair by the server (``array_agg``), so
    each pair's texts cross the wire once instead of once per judgment, and the rows stream
    in binary chunks (:func:`_stream_rows`). Elsewhere (the SQLite demo) the joined rows of
    :func:`export_rows` are read with Django's chunked ``.iterator()`` and grouped per pair
    here.
    """
    if not is_postgresql():
        rows = export_rows(spec, as_of=as_of, with_details=with_details, version_id=version_id)
        return _group_joined(
            rows.iterator(chunk_size=STREAM_CHUNK_SIZE),
            with_details,
            len(_pair_columns(version_id)),
        )
    return _stream_rows(*_aggregated_sql(spec, as_of, with_details, version_id))


def _group_joined(
    rows: Iterator[tuple[Any, ...]], with_details: bool, width: int = len(PAIR_COLUMNS)
) -> Iterator[tuple[Any, ...]]:
    """Per-(pair, judgment) rows → per-pair rows of the shape :func:`stream_export_rows` gives."""
    count = len(_judgment_columns(with_details))
    current: tuple[Any, ...] | None = None
    lists: list[list[Any]] = []
    for row in rows:
        if current is None or current[2] != row[2]:
            if current is not None:
                yield current + tuple(lists)
            current = row[:width]
            lists = [[] for _ in range(count)]
        if row[width] is not None:
            for values, value in zip(lists, row[width:], strict=True):
                values.append(value)
    if current is not None:
        yield current + tuple(lists)


def _aggregated_sql(
    spec: ExportSpec, as_of: dt.datetime, with_details: bool, version_id: int | None = None
) -> tuple[str, list[Any]]:
    """The PostgreSQL statement of the per-pair stream and its parameters.

    Both halves are the ORM's own SQL: the selected pairs, and — per pair, through a LATERAL
    join on the judgment's pair index — the pair's counted judgments ordered by id, each
    column gathered with ``array_agg``. The aggregates read an id-ordered subquery, so all
    arrays share one order without a sort per aggregate (PostgreSQL keeps the input order of
    a sorted subquery for its aggregates).
    """
    columns = _judgment_columns(with_details)
    judgments = Judgment.objects.filter(
        _judgment_condition(spec, as_of), pair_id=RawSQL("p.p2", ())
    )
    if with_details:
        judgments = judgments.annotate(flags_text=Cast("flags", TextField()))
    judgments_ordered = judgments.order_by("id").values_list(*columns)
    pair_columns = _pair_columns(version_id)
    pairs = _pair_queryset(spec, as_of, version_id).order_by().values_list(*pair_columns)
    pair_sql, pair_params = pairs.query.sql_with_params()
    judgment_sql, judgment_params = judgments_ordered.query.sql_with_params()
    pair_names = ", ".join(f"p{index}" for index in range(len(pair_columns)))
    judgment_names = ", ".join(f"c{index}" for index in range(len(columns)))
    aggregates = ", ".join(f"array_agg(s.c{index})" for index in range(len(columns)))
    # A pair nobody judged gets empty arrays, like the chunked path's empty lists.
    arrays = ", ".join(f"COALESCE(j.c{index}, '{{}}')" for index in range(len(columns)))
    sql = (
        f"SELECT p.*, {arrays} "  # noqa: S608 - composed of the ORM's own SQL
        f"FROM ({pair_sql}) AS p ({pair_names}) "
        f"LEFT JOIN LATERAL (SELECT {aggregates} "
        f"FROM ({judgment_sql}) AS s ({judgment_names})) AS j ({judgment_names}) ON true "
        "ORDER BY p.p0, p.p1, p.p2"
    )
    return sql, [*pair_params, *judgment_params]


def _stream_rows(sql: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
    connection.ensure_connection()
    raw: psycopg.Connection[Any] = connection.connection
    # libpq's chunked-rows mode: the server streams rows as it produces them (the query keeps
    # its parallel plan, which a DECLARE CURSOR is denied) and psycopg decodes each chunk of
    # binary rows — arrays included — in C. Memory holds one chunk at a time.
    # (A server-binding cursor of its own: Django's client-side cursors cannot read binary.)
    with psycopg.Cursor(raw) as cursor:
        # JIT compilation costs this one-pass query seconds at a million judgments and saves
        # nothing: it is turned off for the stream only.
        cursor.execute("SET jit = off")
        try:
            yield from cursor.stream(sql, params, binary=True, size=STREAM_CHUNK_SIZE)
        finally:
            # After a failure inside a transaction, its rollback undoes the SET as well.
            if raw.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
                cursor.execute("RESET jit")


def export_pair_count(spec: ExportSpec, *, as_of: dt.datetime) -> int:
    """How many pairs the selection holds (the denominator of the progress bar)."""
    return selected_pairs(spec, as_of=as_of).count()


# Columns of the grades format's stream, in order. The prompt is reached through the candidate
# or the pair, whichever the grade is of.
GRADE_ROW_COLUMNS: tuple[str, ...] = (
    "row_category",
    "row_prompt_id",
    "kind",
    "row_item_id",
    "order",
    "id",
    "row_intent",
    "row_content_hash",
    "row_external_id",
    "candidate_id",
    "pair_id",
    "pair__candidate_a_id",
    "pair__candidate_b_id",
    "response_mode",
    "severity",
    "helpfulness",
    "preference",
    "confidence",
    "field_confidence",
    "samples",
    "rationale",
    "raw_answers",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    # True when the data browser's exclusion keeps the grade out (see grade_excluded).
    "row_excluded",
)


def grade_excluded() -> Q:
    """On ``Grade``: kept out by an exclusion from exports, as the other formats keep it out.

    A pair's grade goes with its pair. A candidate's grade goes when every pair the candidate
    is in is excluded: the per-candidate formats read candidates only from kept pairs. A
    candidate in no pair has nothing that excludes it.
    """
    candidate_pairs = Pair.objects.filter(
        Q(candidate_a_id=OuterRef("candidate_id")) | Q(candidate_b_id=OuterRef("candidate_id"))
    )
    return Q(kind=Grade.Kind.PAIR, pair__export_exclusion__isnull=False) | (
        Q(kind=Grade.Kind.CANDIDATE)
        & Q(Exists(candidate_pairs.filter(export_exclusion__isnull=False)))
        & ~Q(Exists(candidate_pairs.filter(export_exclusion__isnull=True)))
    )


def stream_grade_rows(
    spec: ExportSpec, *, as_of: dt.datetime, version_id: int
) -> Iterator[tuple[Any, ...]]:
    """The grades format's rows: one per grade of the version in the selection, ordered by
    category, prompt, kind (candidates first), item and order (:data:`GRADE_ROW_COLUMNS`)."""

    def through_item(field_name: str) -> Coalesce:
        return Coalesce(f"candidate__prompt__{field_name}", f"pair__prompt__{field_name}")

    rows = (
        grades_in_selection(spec, as_of=as_of, version=version_id)
        .annotate(
            row_category=through_item("category_path"),
            row_prompt_id=through_item("id"),
            row_intent=through_item("intent"),
            row_content_hash=through_item("content_hash"),
            row_external_id=through_item("external_id"),
            row_item_id=Coalesce("candidate_id", "pair_id"),
            row_excluded=ExpressionWrapper(grade_excluded(), output_field=BooleanField()),
        )
        .order_by("row_category", "row_prompt_id", "kind", "row_item_id", "order")
        .values_list(*GRADE_ROW_COLUMNS)
    )
    return rows.iterator(chunk_size=STREAM_CHUNK_SIZE)


def export_grade_count(spec: ExportSpec, *, as_of: dt.datetime, version_id: int) -> int:
    """How many grades the grades format reads (its progress bar's denominator)."""
    return grades_in_selection(spec, as_of=as_of, version=version_id).count()


def export_queryset_sql(spec: ExportSpec, *, as_of: dt.datetime) -> tuple[str, tuple[Any, ...]]:
    """SQL and parameters of the export's query (the benchmark COPYs exactly these rows)."""
    query = export_rows(spec, as_of=as_of).query
    sql, params = query.sql_with_params()
    return sql, tuple(params)


def latest_consensus_run(slug: str) -> ConsensusRun | None:
    """A campaign's newest finished consensus run (without its labels)."""
    return (
        ConsensusRun.objects.filter(campaign__slug=slug, status=ConsensusRun.Status.DONE)
        .defer("labels")
        .order_by("-computed_at", "-id")
        .first()
    )


def consensus_labels(run_ids: tuple[int, ...]) -> ConsensusLabels:
    """The labels of the pinned consensus runs, keyed by candidate and pair id."""
    found = ConsensusLabels()
    runs = ConsensusRun.objects.select_related("campaign").filter(pk__in=run_ids)
    for run in runs.order_by("id"):
        for name, target in (
            (RESPONSE_MODE_FIELD, found.response_mode),
            (SEVERITY_FIELD, found.severity),
            (PREFERENCE_FIELD, found.preference),
        ):
            for item, (value, _quality, _majority) in (run.labels.get(name) or {}).items():
                target[int(item)] = value
        found.runs.append(
            {
                "id": run.pk,
                "campaign": run.campaign.slug,
                "computed_at": run.computed_at.isoformat().replace("+00:00", "Z")
                if run.computed_at
                else None,
                "model": "Dawid-Skene (crowd-kit's EM, over a sparse matrix)",
            }
        )
    if len(found.runs) != len(set(run_ids)):
        raise ValueError(f"consensus runs {sorted(run_ids)} are not all there any more")
    return found
