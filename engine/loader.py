"""Text → validated Workflow: parse, build the pydantic models, run every format rule."""

from __future__ import annotations

import difflib
import logging

from pydantic import ValidationError

from . import source
from .actions import ActionRegistry, default_registry
from .errors import Issue, WorkflowInvalid
from .settings import EngineSettings
from .spec import STEP_CLASSES, STEP_LIST_KEYS, Workflow, step_kind
from .validate import check_workflow

_KIND_KEYS = ("uses", "parallel", "foreach", "steps", "switch")
_ALLOWED_KIND_KEYS = {"action": {"uses"}, "parallel": {"parallel"}, "foreach": {"foreach", "steps"},
                      "group": {"steps"}, "switch": {"switch"}}
_LIST_KEYS = STEP_LIST_KEYS + ("cases",)
log = logging.getLogger(__name__)
#: problems listed at most; one more issue says how many were left out
MAX_ISSUES = 1000


def load(text: str | bytes, filename: str = "<workflow>", *, registry: ActionRegistry | None = None,
         settings: EngineSettings | None = None, secrets=None) -> Workflow:
    """Parse and validate a workflow; raise WorkflowInvalid listing every problem found.

    ``secrets``, when given, are the secret names that exist: ``${secrets.X}`` for any other
    name is an error. Whatever the text holds, the only exception is WorkflowInvalid: the
    checks are bounded, and anything unexpected becomes an issue instead of a crash (text
    comes from users: a traceback would be a 500 and a way to probe the server).
    """
    try:
        return _load(text, filename, registry, settings, secrets)
    except WorkflowInvalid as exc:
        if len(exc.issues) <= MAX_ISSUES:
            raise
        # a broken 1 MiB file can hold 100 000 problems: no one reads past the first thousand
        rest = exc.issues[MAX_ISSUES]
        more = Issue(rest.line, rest.column, rest.path, f"… and {len(exc.issues) - MAX_ISSUES:,} more problems")
        raise WorkflowInvalid(exc.issues[:MAX_ISSUES] + [more], filename) from None
    except RecursionError:
        raise WorkflowInvalid([Issue(1, 1, "", "the workflow is too deeply nested to check")], filename) from None
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        log.exception("loading %s failed", filename)
        raise WorkflowInvalid([Issue(1, 1, "", f"the workflow could not be checked ({type(exc).__name__})")],
                              filename) from None


def _load(text, filename, registry, settings, secrets) -> Workflow:
    doc = source.parse(text, filename)
    issues: list[Issue] = []
    broken: set[str] = set()
    workflow = _build_workflow(doc, issues, broken)
    if workflow is not None:
        issues.extend(check_workflow(workflow, doc, registry or default_registry(), settings or EngineSettings(),
                                     broken=broken, secrets=secrets))
    if issues:
        unique = sorted(set(issues), key=lambda i: (i.line, i.column, i.path, i.message))
        raise WorkflowInvalid(unique, filename)
    workflow._source = doc  # type: ignore[attr-defined]
    return workflow


def validate(text: str | bytes, filename: str = "<workflow>", **kwargs) -> list[Issue]:
    """Every problem with a workflow text, as data ([] when it is valid)."""
    try:
        load(text, filename, **kwargs)
    except WorkflowInvalid as exc:
        return exc.issues
    return []


def _build_workflow(doc: source.Document, issues: list[Issue], broken: set[str]) -> Workflow | None:
    """The workflow with every step that could be built; ``broken`` gets the ids of the rest."""
    raw = doc.data
    if not isinstance(raw, dict):
        issues.append(doc.issue((), "a workflow is a mapping with a name and steps"))
        return None
    raw = dict(raw)
    failed = _build_lists(raw, (), doc, issues, broken)
    try:
        workflow = Workflow.model_validate(raw)
    except ValidationError as exc:
        _report(exc, (), doc, issues, Workflow, skip_keys=failed)
        return None
    return workflow


def _build_lists(raw: dict, path: tuple, doc, issues, broken: set[str]) -> set[str]:
    """Build every nested list of steps in ``raw`` in place; the keys where a step failed."""
    failed = set()
    for key in STEP_LIST_KEYS:
        if isinstance(raw.get(key), list):
            raw[key], bad = _build_steps(raw[key], path + (key,), doc, issues, broken)
            if bad:
                failed.add(key)
    cases = raw.get("cases")
    if isinstance(cases, dict):
        built = {}
        for name, case in cases.items():
            if isinstance(case, list):
                built[name], bad = _build_steps(case, path + ("cases", name), doc, issues, broken)
                if bad:
                    failed.add("cases")
            else:
                built[name] = case
        raw["cases"] = built
    return failed


def _build_steps(items: list, path: tuple, doc, issues, broken: set[str]) -> tuple[list, bool]:
    built, failed = [], False
    for i, raw in enumerate(items):
        step = _build_step(raw, path + (i,), doc, issues, broken)
        if step is None:
            failed = True
            broken.update(_raw_ids(raw))
        else:
            built.append(step)
    return built, failed


def _raw_ids(raw) -> set[str]:
    """Every ``id`` inside raw step data (so a broken step's ids cause no follow-on errors)."""
    ids: set[str] = set()
    if isinstance(raw, dict):
        if isinstance(raw.get("id"), str):
            ids.add(raw["id"])
        for value in raw.values():
            ids |= _raw_ids(value)
    elif isinstance(raw, list):
        for value in raw:
            ids |= _raw_ids(value)
    return ids


def _build_step(raw, path: tuple, doc: source.Document, issues: list[Issue], broken: set[str]):
    if not isinstance(raw, dict):
        issues.append(doc.issue(path, "a step is a mapping with an id and one of: uses, parallel, foreach, steps"))
        return None
    present = [k for k in _KIND_KEYS if k in raw]
    kind = step_kind(raw)
    if kind is None:
        hint = _suggest_key(raw, _KIND_KEYS)
        issues.append(doc.issue(path, "a step needs one of: uses, parallel, foreach, steps" + hint))
        return None
    allowed = _ALLOWED_KIND_KEYS[kind]
    extra = [k for k in present if k not in allowed]
    if extra:
        issues.append(doc.issue(path, f"a step has exactly one of uses, parallel, foreach, steps; "
                                      f"found {', '.join(present)}"))
        return None
    raw = dict(raw)
    failed = _build_lists(raw, path, doc, issues, broken)
    cls = STEP_CLASSES[kind]
    try:
        step = cls.model_validate(raw)
    except ValidationError as exc:
        _report(exc, path, doc, issues, cls, skip_keys=failed)
        return None
    except Exception as exc:  # noqa: BLE001 - one step's surprise is that step's issue
        log.exception("building the step at %s failed", source.path_str(path))
        issues.append(doc.issue(path, f"this step could not be checked ({type(exc).__name__})"))
        return None
    if failed and not all(_kept(step, key) for key in failed):
        return None
    step._path = path
    step._pos = doc.position(path)
    return step


def _kept(step, key: str) -> bool:
    """Is anything left of the list at ``key`` once its broken steps are dropped?"""
    if key == "cases":
        return all(step.cases.values())
    return bool(getattr(step, "finally_" if key == "finally" else key, None))


def _report(exc: ValidationError, path: tuple, doc, issues, model, skip_keys=frozenset()) -> None:
    known = sorted(f.alias or name for name, f in model.model_fields.items() if not f.exclude)
    for err in exc.errors():
        loc = tuple(err["loc"])
        if loc and loc[0] in skip_keys:
            continue  # the nested steps reported their own errors
        if loc and loc[0] in _LIST_KEYS and any(isinstance(k, int) for k in loc[1:3]) and err["type"] in (
            "model_type", "union_tag_invalid", "model_attributes_type"
        ):
            continue
        where = path + loc
        if err["type"] == "extra_forbidden" and len(loc) == 1:
            close = difflib.get_close_matches(str(loc[0]), known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(known)})"
            message = f"unknown key {_shown(str(loc[0]))}{hint}"
        elif err["type"] == "extra_forbidden":
            message = f"unknown key {_shown(str(loc[-1]))}"
        elif err["type"] == "missing":
            message = f"missing required key '{loc[-1]}'"
        elif err["type"] == "string_pattern_mismatch" and loc and loc[-1] == "id":
            message = (f"invalid id {_shown(err.get('input'))}: use letters, digits and _, not starting with a digit, "
                       "at most 100 characters")
        elif err["type"] == "string_pattern_mismatch" and loc == ("name",):
            message = f"invalid name {_shown(err.get('input'))}: use a slug of a-z, 0-9, - and _"
        else:
            message = err["msg"].removeprefix("Value error, ")
        issues.append(doc.issue(where, message))


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:50] + "…" + text[-5:]


def _suggest_key(raw: dict, keys) -> str:
    for key in list(raw)[:20]:
        close = difflib.get_close_matches(str(key), keys, n=1)
        if close:
            return f" (did you mean '{close[0]}' instead of '{key}'?)"
    return ""
