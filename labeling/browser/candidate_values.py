"""The sources, models and styles of a campaign's candidates: the data browser's filters offer
them and accept only them.

On PostgreSQL a statement trigger on candidate inserts adds each new value to
``CandidateValue`` (``INSERT … ON CONFLICT DO NOTHING`` in key order, reading the statement's
rows through a transition table), so a campaign of a million candidates lists its values by
reading a handful of rows. SQLite (the demo) has no trigger: there the values are read from the
candidates.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from labeling.database import is_postgresql
from labeling.models import Campaign, Candidate, CandidateValue

from .selectors import BrowserQuery

FIELDS: tuple[str, ...] = tuple(CandidateValue.Field.values)
# More values than this show as a text field with suggestions instead of a list to pick from.
LISTED_AT_MOST = 200

_TABLE = CandidateValue._meta.db_table
_FUNCTION = "labeling_candidate_values_add"
_TRIGGER = "candidate_values_add"
_VALUES = ", ".join(f"('{field}', c.{field})" for field in FIELDS)


def _values_of(candidates: str) -> str:
    """The distinct (campaign, field, value) of the candidates in table ``candidates``."""
    return (
        f"SELECT DISTINCT p.campaign_id, v.field, v.value FROM {candidates} AS c "  # noqa: S608
        "JOIN labeling_prompt AS p ON p.id = c.prompt_id "
        f"CROSS JOIN LATERAL (VALUES {_VALUES}) AS v (field, value) "
        "WHERE v.value <> '' ORDER BY 1, 2, 3"
    )


def install_statements() -> list[str]:
    """The trigger, and the values of the candidates already there."""
    return [
        f"CREATE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"INSERT INTO {_TABLE} (campaign_id, field, value) {_values_of('new_candidates')} "
        "ON CONFLICT DO NOTHING; RETURN NULL; END $$",
        f"CREATE TRIGGER {_TRIGGER} AFTER INSERT ON labeling_candidate "
        "REFERENCING NEW TABLE AS new_candidates "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {_FUNCTION}()",
        f"INSERT INTO {_TABLE} (campaign_id, field, value) {_values_of('labeling_candidate')} "
        "ON CONFLICT DO NOTHING",
    ]


def uninstall_statements() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {_TRIGGER} ON labeling_candidate",
        f"DROP FUNCTION IF EXISTS {_FUNCTION}()",
    ]


def _values(campaign: Campaign, field: str) -> QuerySet[Any, str]:
    if is_postgresql():
        return (
            CandidateValue.objects.filter(campaign=campaign, field=field)
            .order_by("value")
            .values_list("value", flat=True)
        )
    return (
        Candidate.objects.filter(prompt__campaign=campaign)
        .exclude(**{field: ""})
        .order_by(field)
        .values_list(field, flat=True)
        .distinct()
    )


def campaign_candidate_values(campaign: Campaign) -> dict[str, list[str]]:
    """Each field's values in the campaign, sorted; at most ``LISTED_AT_MOST`` + 1 of them (one
    more than that says there are too many to list)."""
    return {field: list(_values(campaign, field)[: LISTED_AT_MOST + 1]) for field in FIELDS}


def candidate_filters(campaign: Campaign, query: BrowserQuery) -> list[dict[str, Any]]:
    """The browser's source, model and style filters: the campaign's values to pick from, or
    a text field suggesting the first of them when there are more than a list can hold."""
    return [
        {
            "name": field,
            "label": field.capitalize(),
            "values": values[:LISTED_AT_MOST],
            "listed": len(values) <= LISTED_AT_MOST,
            "current": getattr(query, field),
        }
        for field, values in campaign_candidate_values(campaign).items()
    ]


def candidate_values_check(campaign: Campaign, query: BrowserQuery) -> None:
    """Refuse a source, model or style no candidate of the campaign has, naming the field
    (``ValidationError({field: reason})``): such a filter would match nothing, silently."""
    errors: dict[str, str] = {}
    for field in FIELDS:
        value = getattr(query, field)
        if value and not _values(campaign, field).filter(**_lookup(field, value)).exists():
            errors[field] = f"no candidate of campaign {campaign.slug} has {field} “{value}”"
    if errors:
        raise ValidationError(errors)


def _lookup(field: str, value: str) -> dict[str, str]:
    return {"value": value} if is_postgresql() else {field: value}
