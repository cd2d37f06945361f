"""Where a run came from, in words: one wording for the API, the pages and the terminal.

``origin_text("schedule", {"trigger": "nightly", "slot": "2026-11-24T02:00:00+00:00"})`` is
"schedule nightly at 2026-11-24 02:00 UTC". The details are stored by whoever made the run
(builder/services.create_run, builder/triggers.start, the API): they are read defensively here,
so a detail that is missing or of another shape still gives a sentence, never an error.
"""

from __future__ import annotations

from datetime import datetime, timedelta

#: the words of each origin with no details (also the labels of the /runs/ page's filter)
LABELS = {"manual": "manual", "cli": "command line", "schedule": "schedule", "webhook": "webhook",
          "api": "API token", "resume": "resume", "rerun": "re-run"}
MAX_NAME = 100  # a name shown from the details is cut here (they are ours, but stored as JSON)


def origin_text(origin: str, detail: dict | None, short: bool = False) -> str:
    """A short phrase: "manual", "command line", "schedule nightly at 2026-11-24 02:00 +01:00"
    (the slot in the schedule's own zone; "(caught up)" when it fired late, builder/scheduler.py),
    "webhook from_ci", "API token ci-bot", "resume of #12", "restart of #12 from per_file[3].parse",
    "re-run of #12"; ``short``: without
    the slot (a narrow column)."""
    detail = detail if isinstance(detail, dict) else {}
    label = LABELS.get(origin, str(origin or "unknown")[:MAX_NAME])
    if origin in ("schedule", "webhook"):
        text = _join(label, _name(detail.get("trigger")))
        slot = _slot(detail.get("slot")) if origin == "schedule" and not short else ""
        text = f"{text} at {slot}" if slot else text
        return f"{text} (caught up)" if detail.get("caught_up") is True else text
    if origin == "manual" and isinstance(detail.get("try"), str):  # builder/step_try.py
        return f"try of {detail['try'].strip()[:MAX_NAME]}"
    if origin == "api":
        return _join(label, _name(detail.get("token")))
    if origin in ("resume", "rerun"):
        run = origin_run(detail)
        text = f"{label} of #{run}" if run is not None else label
        step = detail.get("from_step")  # a restart from a step (builder/restart.py)
        if origin == "resume" and isinstance(step, str) and step.strip():
            text = f"restart of #{run} from {step.strip()[:MAX_NAME]}" if run is not None else "restart"
        return text
    return label


def origin_run(detail: dict | None) -> int | None:
    """The run a resume or re-run came from (``{"run": N}``), when the details name one."""
    run = detail.get("run") if isinstance(detail, dict) else None
    return run if isinstance(run, int) and not isinstance(run, bool) and run > 0 else None


def _join(label: str, name: str) -> str:
    return f"{label} {name}" if name else label


def _name(value) -> str:
    """A trigger's or token's name (a trigger id stored as a number is shown as #N)."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int):
        return f"#{value}"
    return str(value).strip()[:MAX_NAME] if isinstance(value, str) else ""


def _slot(value) -> str:
    """A slot's time in the zone it was stored with ("UTC" named when it is UTC)."""
    if not isinstance(value, str):
        return ""
    try:
        moment = datetime.fromisoformat(value[:40])
    except ValueError:
        return ""
    text = moment.strftime("%Y-%m-%d %H:%M")
    offset = moment.utcoffset()
    if offset is None:
        return text
    if offset == timedelta(0):
        return f"{text} UTC"
    return f"{text} {moment.strftime('%z')[:3]}:{moment.strftime('%z')[3:]}"
