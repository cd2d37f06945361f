"""Text → validated Workflow: parse, build the pydantic models, run every format rule.

Every problem is found in one pass: a step that fails to build is reported and stays in its
list as a stand-in (``validate_tree.Broken``) holding what could be read of it, so the steps
after it keep their order and its expressions and nested steps are still checked; a workflow
whose top-level keys fail is checked without them. Ids inside a broken step cause no
follow-on errors.
"""

from __future__ import annotations

import gc
import logging
import threading
from contextlib import contextmanager

from pydantic import ValidationError

from . import source
from .actions import ActionRegistry, default_registry
from .errors import Issue, WorkflowInvalid
from .settings import EngineSettings
from .spec import STEP_CLASSES, STEP_LIST_KEYS, Workflow, step_kind
from .validate import check_workflow
from .validate_schema import report, suggest_key
from .validate_tree import Broken

_KIND_KEYS = ("uses", "parallel", "foreach", "steps", "switch")
_ALLOWED_KIND_KEYS = {"action": {"uses"}, "parallel": {"parallel"}, "foreach": {"foreach", "steps"},
                      "group": {"steps"}, "switch": {"switch"}}
_ATTRS = {"finally": "finally_"}
log = logging.getLogger(__name__)
#: problems listed at most; one more issue says how many were left out
MAX_ISSUES = 1000


def load(text: str | bytes, filename: str = "<workflow>", *, registry: ActionRegistry | None = None,
         settings: EngineSettings | None = None, secrets=None, workflows=None) -> Workflow:
    """Parse and validate a workflow; raise WorkflowInvalid listing every problem found.

    ``secrets``, when given, are the secret names that exist: ``${secrets.X}`` for any other
    name is an error. ``workflows``, when given, are the names of the saved workflows a
    ``workflow`` step may call (the owner's): any other name is an error. Whatever the text
    holds, the only exception is WorkflowInvalid: the checks are bounded, and anything
    unexpected becomes an issue instead of a crash (text comes from users: a traceback would
    be a 500 and a way to probe the server).
    """
    try:
        with collector_paused():
            return _load(text, filename, registry, settings, secrets, workflows)
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


def _load(text, filename, registry, settings, secrets, workflows) -> Workflow:
    doc = source.parse(text, filename)
    issues: list[Issue] = []
    broken: set[str] = set()
    partial: set[str] = set()
    workflow = _build_workflow(doc, issues, broken, partial)
    if workflow is not None:
        issues.extend(check_workflow(workflow, doc, registry or default_registry(), settings or EngineSettings(),
                                     broken=broken, secrets=secrets, workflows=workflows,
                                     partial=frozenset(partial)))
    if issues:
        unique = sorted(set(issues), key=lambda i: (i.line, i.column, i.path, i.message))
        raise WorkflowInvalid(unique, filename)
    workflow._source = _kept(doc, workflow)  # type: ignore[attr-defined]
    return workflow


def _kept(doc: source.Document, workflow: Workflow) -> source.Document:
    """What a loaded workflow keeps of its document: the positions of its inputs (the CLI
    reports a bad input at its declaration; each step has its own position). The data and the
    other positions go as the load ends, before the collector runs again: a 10 000-step
    document is a few hundred thousand objects it would otherwise scan, and keep."""
    packed = doc.positions.packed
    paths = [(), ("inputs",), *(("inputs", name) for name in workflow.inputs)]
    return source.Document(None, source.Positions({p: packed[p] for p in paths if p in packed}),
                           source.Positions({}), {})


_pauses = 0  # loads and plans under way, in every thread
_pause_lock = threading.Lock()
_was_enabled = False


@contextmanager
def collector_paused():
    """The garbage collector off while a workflow is loaded or planned, as it was after.

    Loading builds a few hundred thousand objects that all survive it (data, positions,
    models, nodes): every young collection scans them again and the growing heap triggers full
    collections of the whole process, which made a 10 000-step load 2 to 2.6 times slower. A
    load makes little cyclic garbage and at most ``source.MAX_BYTES`` of text's worth: the next
    collection after it takes that. Loads in several threads share one pause (counted); the
    collector is enabled again only if it was when the first of them began.
    """
    global _pauses, _was_enabled
    with _pause_lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()


def validate(text: str | bytes, filename: str = "<workflow>", **kwargs) -> list[Issue]:
    """Every problem with a workflow text, as data ([] when it is valid)."""
    try:
        load(text, filename, **kwargs)
    except WorkflowInvalid as exc:
        return exc.issues
    return []


def _build_workflow(doc: source.Document, issues: list[Issue], broken: set[str], partial: set[str]):
    """The workflow with every step in place (stand-ins for the broken ones); ``broken`` gets
    the ids inside broken steps, ``partial`` the top-level keys left out because they failed."""
    raw = doc.data
    if not isinstance(raw, dict):
        issues.append(doc.issue((), "a workflow is a mapping with a name and steps"))
        return None
    raw = dict(raw)
    failed, full = _build_lists(raw, (), doc, issues, broken)
    try:
        workflow = Workflow.model_validate(raw)
    except ValidationError as exc:
        report(exc, (), doc, issues, Workflow, skip_keys=failed)
        bad = {err["loc"][0] if err["loc"] else None for err in exc.errors()}
        if None in bad:
            return None
        for key in bad:  # check the rest without them: a bad name must not hide the steps' errors
            raw.pop(key, None)
        raw.setdefault("name", "workflow")
        partial.update(bad)
        try:
            workflow = Workflow.model_validate(raw)
        except ValidationError:
            return None
    _restore(workflow, full)
    return workflow


def _build_lists(raw: dict, path: tuple, doc, issues, broken: set[str]) -> tuple[set[str], dict]:
    """Build every nested list of steps in ``raw`` in place, without its broken steps (what
    the model takes); the keys where a step failed, and those lists with their stand-ins."""
    failed, full = set(), {}
    for key in STEP_LIST_KEYS:
        if isinstance(raw.get(key), list):
            raw[key], whole = _build_steps(raw[key], path + (key,), doc, issues, broken)
            if whole is not None:
                failed.add(key)
                full[(key,)] = whole
    cases = raw.get("cases")
    if isinstance(cases, dict):
        built = {}
        for name, case in cases.items():
            if isinstance(case, list):
                built[name], whole = _build_steps(case, path + ("cases", name), doc, issues, broken)
                if whole is not None:
                    failed.add("cases")
                    full[("cases", name)] = whole
            else:
                built[name] = case
        raw["cases"] = built
    return failed, full


def _restore(target, full: dict) -> None:
    """Put the stand-ins back in the lists of a built step (or workflow, or stand-in's raw data)."""
    for key, steps in full.items():
        if isinstance(target, dict):
            if key[0] == "cases":
                target["cases"][key[1]] = steps
            else:
                target[key[0]] = steps
        elif key[0] == "cases":
            target.cases[key[1]] = steps
        else:  # no validation on assignment: the list already holds built steps
            setattr(target, _ATTRS.get(key[0], key[0]), steps)


def _build_steps(items: list, path: tuple, doc, issues, broken: set[str]) -> tuple[list, list | None]:
    """The steps that built, and (when some did not) the whole list with stand-ins."""
    built, whole, failed = [], [], False
    for i, raw in enumerate(items):
        step = _build_step(raw, path + (i,), doc, issues, broken)
        if step is None or isinstance(step, Broken):
            failed = True
            broken.update(_raw_ids(raw))
        else:
            built.append(step)
        if step is not None:
            whole.append(step)
    return built, (whole if failed else None)


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
    """The step's model; a ``Broken`` stand-in when it has issues (reported here); None when it
    is not even a mapping."""
    if not isinstance(raw, dict):
        issues.append(doc.issue(path, "a step is a mapping with an id and one of: uses, parallel, foreach, steps"))
        return None
    raw = dict(raw)
    failed, full = _build_lists(raw, path, doc, issues, broken)
    present = [k for k in _KIND_KEYS if k in raw]
    kind = step_kind(raw)
    if kind is None:
        hint = suggest_key(raw, _KIND_KEYS)
        issues.append(doc.issue(path, "a step needs one of: uses, parallel, foreach, steps, switch" + hint))
        return _stand_in(raw, full, path, doc)
    extra = [k for k in present if k not in _ALLOWED_KIND_KEYS[kind]]
    if extra:
        issues.append(doc.issue(path, f"a step has exactly one of uses, parallel, foreach, steps, switch; "
                                      f"found {', '.join(present)}"))
        return _stand_in(raw, full, path, doc)
    cls = STEP_CLASSES[kind]
    try:
        step = cls.model_validate(raw)
    except ValidationError as exc:
        report(exc, path, doc, issues, cls, skip_keys=failed)
        return _stand_in(raw, full, path, doc)
    except Exception as exc:  # noqa: BLE001 - one step's surprise is that step's issue
        log.exception("building the step at %s failed", source.path_str(path))
        issues.append(doc.issue(path, f"this step could not be checked ({type(exc).__name__})"))
        return _stand_in(raw, full, path, doc)
    _restore(step, full)
    private = step.__pydantic_private__  # set in place: pydantic's __setattr__ is slow, on every step
    private["_path"] = path
    private["_pos"] = doc.position(path)
    return step


def _stand_in(raw: dict, full: dict, path: tuple, doc) -> Broken:
    _restore(raw, full)
    return Broken(raw, path, doc.position(path))
