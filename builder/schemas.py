"""Request and response bodies of the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import Field


class IssueOut(Schema):
    line: int
    column: int
    path: str
    message: str


class ErrorsOut(Schema):
    detail: str
    errors: list[IssueOut] = []


class WorkflowIn(Schema):
    yaml: str = Field(min_length=1, description="the workflow's YAML text")
    message: str = Field(default="", max_length=500, description="what changed (for the version history)")
    base_version: int | None = Field(default=None, ge=0, description="the version these changes started from: "
                                     "a save over a newer one is refused with 409")


class WorkflowOut(Schema):
    id: int
    name: str
    title: str
    version: int
    owner: str
    created_at: datetime
    updated_at: datetime
    last_run: dict | None = None


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
    yaml: str


class ValidateOut(Schema):
    valid: bool
    errors: list[IssueOut]
    steps: list[dict] = []
    inputs: dict = {}


class RunIn(Schema):
    inputs: dict[str, Any] = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=1, description="a version number; the current one if absent")


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


class RunOut(Schema):
    id: int
    workflow_id: int
    workflow: str
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


class RunDetailOut(RunOut):
    steps: list[StepOut]


class ActionOut(Schema):
    name: str
    title: str
    description: str
    category: str
    kind: str
    schema_: dict = Field(alias="schema")
    action: str | None = None
    output_schema: dict | None = None
