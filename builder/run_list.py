"""The list of a user's runs across workflows (``GET /api/runs/``, the ``/runs/`` page).

Every parameter is checked where it enters (``RunFilters``), so a hostile query answers 422,
never 500: a status or origin that does not exist, a date that does not parse or is out of
range, an offset or a limit past their bounds. Another user's runs are never counted or
listed (staff see everyone's, as everywhere); filtering by another user's workflow finds
nothing, exactly like a workflow that does not exist.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone
from ninja import Schema
from pydantic import Field, field_validator

from .models import Origin, Run
from .schemas import MAX_INT
from .services import visible_to

MAX_LIMIT = 200
DEFAULT_LIMIT = 25
MAX_OFFSET = 10**9
#: dates beyond these are refused (a day added to 9999-12-31 would overflow)
FIRST_YEAR, LAST_YEAR = 1970, 9998


class RunFilters(Schema):
    """The query of ``GET /api/runs/``."""

    status: Run.Status | None = Field(None, description="only runs with this status")
    workflow: int | None = Field(None, ge=1, le=MAX_INT, description="only the runs of this workflow (its id)")
    origin: Origin | None = Field(None, description="only runs started this way: " + ", ".join(Origin.values))
    since: str | None = Field(None, max_length=40, description="made at or after: a date (its first moment, "
                              "server time) or an ISO 8601 date and time (with an offset, or server time)")
    until: str | None = Field(None, max_length=40, description="made before: a date counts as the whole day "
                              "(runs before the next day's start), a date and time as that moment")
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    # 25 by default: a poll's page of ~300-byte summaries stays under 10 KB (issue 15)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)

    @field_validator("since", "until")
    @classmethod
    def _moment(cls, value: str | None, info) -> str | None:
        if value not in (None, ""):
            moment(value, end=info.field_name == "until")  # raises ValueError: 422 with its place
        return value or None


def moment(text: str, *, end: bool = False) -> datetime:
    """The aware datetime a ``since``/``until`` value means (``end``: a date is its whole day)."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            stamp = datetime.combine(day + timedelta(days=1) if end else day, time())
        else:
            stamp = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise ValueError("a date (2026-11-24) or an ISO 8601 date and time (2026-11-24T02:00:00+01:00)") from None
    if not FIRST_YEAR <= stamp.year <= LAST_YEAR:
        raise ValueError(f"a date between {FIRST_YEAR} and {LAST_YEAR}")
    return stamp if timezone.is_aware(stamp) else timezone.make_aware(stamp)


def runs_for(user, filters: RunFilters):
    """The runs ``user`` may list that pass ``filters``, newest first (not yet paged)."""
    runs = summaries(visible_to(user, Run.objects.select_related("workflow__owner", "version"), "workflow__owner"))
    if filters.status is not None:
        runs = runs.filter(status=filters.status)
    if filters.workflow is not None:
        runs = runs.filter(workflow_id=filters.workflow)
    if filters.origin is not None:
        runs = runs.filter(origin=filters.origin)
    if filters.since:
        runs = runs.filter(created_at__gte=moment(filters.since))
    if filters.until:
        runs = runs.filter(created_at__lt=moment(filters.until, end=True))
    return runs.order_by("-created_at", "-id")


def summaries(runs):
    """Runs as the lists read them: never the YAML, the inputs, outputs or summary (a page of runs
    does not load a megabyte a version or a run)."""
    return runs.defer("workflow__yaml", "version__yaml", "inputs", "outputs", "summary", "error")


def page(user, filters: RunFilters) -> tuple[list[Run], int]:
    """One page of the runs ``user`` may list, and how many pass the filters in all."""
    runs = runs_for(user, filters)
    return list(runs[filters.offset:filters.offset + filters.limit]), runs.count()
