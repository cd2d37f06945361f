"""Request and response bodies of the JSON API.

Bodies are hostile: every number that reaches the database is bounded (SQLite and PostgreSQL
store 64-bit integers; a bigger one would be a 500), and strings and run inputs hold no NUL
character (PostgreSQL refuses it) and no NaN or Infinity (not JSON).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from ninja import Schema
from pydantic import AfterValidator, Field

#: the largest id or number the database stores (a signed 64-bit integer)
MAX_INT = 2**63 - 1
#: an integer in run inputs beyond this is refused: JSON readers (and browsers) lose precision
MAX_JSON_INT = 2**53
#: how deep run inputs may nest
MAX_DEPTH = 64
NO_NUL = r"^[^\x00]*$"


def _storable(value: Any, depth: int = 0) -> Any:
    """Refuse what no database column or JSON reader takes (walks a body already under 2 MiB)."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("NaN and Infinity are not JSON numbers")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_JSON_INT:
        raise ValueError(f"integers are limited to ±2**53 ({MAX_JSON_INT})")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text may not contain the NUL character")
    if isinstance(value, dict):
        for key, item in value.items():
            _storable(key, depth + 1)
            _storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _storable(item, depth + 1)
    return value


Text = Annotated[str, Field(pattern=NO_NUL)]


class IssueOut(Schema):
    line: int
    column: int
    path: str  # where in the document: steps[1].parallel[0].with.url
    message: str
    step_path: str = ""  # the step's run-time path (analyses.by_region), when the place is in a step


class ErrorsOut(Schema):
    """Every error answer: what went wrong, and for invalid input each problem with its place
    (``line``/``column`` in the YAML, or 0 and ``path`` such as ``body.yaml`` or ``query.limit``)."""

    detail: str
    errors: list[IssueOut] = []


class WorkflowIn(Schema):
    yaml: str = Field(min_length=1, pattern=NO_NUL, description="the workflow's YAML text")
    message: str = Field(default="", max_length=500, pattern=NO_NUL,
                         description="what changed (for the version history)")
    base_version: int | None = Field(default=None, ge=0, le=MAX_INT, description="the version these changes started from: "
                                     "a save over a newer one is refused with 409")


class TriggerBriefOut(Schema):
    """One trigger of the workflow's current version."""

    id: str
    kind: str  # schedule or webhook
    token_hint: str = ""  # a webhook's token's last characters, once one was made


class WorkflowOut(Schema):
    id: int
    name: str
    title: str
    version: int
    owner: str
    created_at: datetime
    updated_at: datetime
    last_run: dict | None = None
    triggers_enabled: bool = True
    triggers: list[TriggerBriefOut] = []


class WorkflowDetailOut(WorkflowOut):
    yaml: str


class VersionOut(Schema):
    number: int
    message: str
    author: str | None
    created_at: datetime


class VersionDetailOut(VersionOut):
    yaml: str


class ValidateIn(Schema):
    yaml: str = Field(pattern=NO_NUL)


class ValidateOut(Schema):
    valid: bool
    errors: list[IssueOut]
    steps: list[dict] = []
    inputs: dict = {}


class RunIn(Schema):
    inputs: Annotated[dict[str, Any], AfterValidator(_storable)] = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=1, le=MAX_INT, description="a version number; the current one if absent")


class StepOut(Schema):
    path: str
    step_id: str
    kind: str
    uses: str
    attempt: int
    status: str
    inputs: Any = None
    output: Any = None
    output_note: str
    error: str
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None


class RunSummaryOut(Schema):
    """A run in a list (``GET /api/runs/``, a workflow's runs): what a row shows, never the run's
    inputs, outputs, summary or error (``GET /api/runs/{id}`` has them)."""

    id: int
    workflow_id: int
    workflow: str
    owner: str = Field("", description="the workflow's owner's user name (staff see everyone's runs)")
    version: int
    status: str
    mode: str
    created_at: datetime
    started_at: datetime | None
    duration_ms: float | None = Field(None, description="its end is started_at + duration_ms (the run's own "
                                      "answer says finished_at)")
    origin: str = Field("manual", description="how it was started: manual, cli, schedule, webhook, api, resume, rerun")
    origin_detail: dict = Field(default_factory=dict, description='{"trigger", "slot"} (schedule), {"trigger"} '
                                '(webhook), {"token"} (api), {"run"} (resume, rerun)')
    origin_text: str = Field("manual", description='the origin in words: "schedule nightly at 2026-11-24 02:00 UTC"')


class RunOut(Schema):
    id: int
    workflow_id: int
    workflow: str
    owner: str = Field("", description="in the run lists: the workflow's owner's user name (staff see everyone's runs)")
    version: int
    status: str
    inputs: dict
    outputs: Any = None
    error: str
    summary: dict
    mode: str
    resumed_from: int | None
    last_seq: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    origin: str = Field("manual", description="how it was started: manual, cli, schedule, webhook, api, resume, rerun")
    origin_detail: dict = Field(default_factory=dict, description='{"trigger", "slot"} (schedule), {"trigger"} '
                                '(webhook), {"token"} (api), {"run"} (resume, rerun)')
    origin_text: str = Field("manual", description='the origin in words: "schedule nightly at 2026-11-24 02:00 UTC"')


class ItemsPageOut(Schema):
    """A page of a run's foreach items' step rows (``?items=true&offset=&limit=``)."""

    total: int = Field(description="how many item rows the run has")
    offset: int
    limit: int
    rows: list[StepOut]


class RunDetailOut(RunOut):
    steps: list[StepOut] = Field(description="the rows of the steps outside foreach items")
    items: ItemsPageOut | None = Field(default=None, description="with items=true: a page of the items' rows")


class ActionOut(Schema):
    name: str
    title: str
    description: str
    category: str
    kind: str
    schema_: dict = Field(alias="schema")
    action: str | None = None
    output_schema: dict | None = None


class SecretIn(Schema):
    value: str = Field(min_length=1, max_length=64 * 1024, pattern=NO_NUL,
                       description="the secret's value: write-only, never shown again")
    description: str = Field(default="", max_length=300, pattern=NO_NUL)


class SecretOut(Schema):
    """A secret the caller's runs may read (never its value)."""

    name: str
    description: str = ""
    source: str = Field(description="mine, shared (by its owner, staff set it up) or server (the environment)")
    owner: str | None = None
    updated_at: datetime | None = None
