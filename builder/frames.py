"""What the recorder stores and sends: strict JSON text, capped values, the run's frames and
which events a batch leaves out (``coalesce``), and the channel-layer groups' names."""

from __future__ import annotations

import datetime as dt
import json

import orjson

from engine.values import lenient

OUTPUT_CAP = 64 * 1024
# orjson for plain data (a run's events are; it is 5-10x the json module's speed). What it would
# write in a way of its own (datetimes, dataclasses, subclasses of str or dict) it refuses here,
# so those go the json module's way as before; NaN and Infinity it writes as null, which is
# what ``lenient`` makes of them.
_FAST = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def dumps(value) -> str:
    """Strict JSON text of ``value``: what strict JSON cannot hold is made lenient first."""
    try:
        return orjson.dumps(value, option=_FAST).decode()
    except TypeError:  # (orjson.JSONEncodeError is one) an unknown type, a big integer, deep nesting
        pass
    try:
        return json.dumps(value, allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        return json.dumps(lenient(value), allow_nan=False, default=str)


STAFF_GROUP = "workflows.staff"


def owner_group(user_id: int) -> str:
    """The channel-layer group of one user's workflow list pages."""
    return f"workflows.{user_id}"


def group_name(run_id: int) -> str:
    return f"run.{run_id}"


def when(ts: float | None) -> dt.datetime | None:
    """An event's timestamp (epoch seconds) as an aware UTC datetime (None stays None)."""
    return None if ts is None else dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc)


def size_of(text: str) -> int:
    """The UTF-8 size of JSON text (orjson keeps non-ASCII characters as they are)."""
    return len(text) if text.isascii() else len(text.encode())


def cap(value, limit: int = OUTPUT_CAP):
    """``(value, note)``: the value, or a preview of it with a note when its JSON is too big."""
    text = dumps(value)
    if len(text) <= limit and size_of(text) <= limit:
        return value, ""
    preview = text if text.isascii() else text.encode()[:limit].decode(errors="ignore")
    return {"preview": preview[:limit]}, f"output cut: {len(text)} characters, the first {limit} kept"


def plain(text):
    """Text as every database stores it: the NUL character (PostgreSQL refuses it) as U+FFFD."""
    return text.replace("\x00", "\ufffd") if isinstance(text, str) and "\x00" in text else text


def event_data(event) -> dict:
    """An event as JSON-safe data, big outputs cut."""
    data = event.as_dict()
    for key in ("error", "message", "reason"):  # outputs and inputs are normalised by the engine
        if key in data:
            data[key] = plain(data[key])
    for key in ("output", "outputs", "inputs"):
        if data.get(key) is not None and not isinstance(data[key], (int, float, bool)):
            data[key], note = cap(data[key], 16 * 1024)
            if note:
                data[f"{key}_note"] = note
    return data



FRAME_BYTES = 256 * 1024  # websocket servers refuse messages over 1 MiB


def frames(data: list[dict]):
    """``(first seq, last seq, JSON text)`` of ``{"type": "events", ...}`` frames of bounded size."""
    return frames_of([(event["seq"], dumps(event)) for event in data])


def frames_of(texts: list[tuple[int, str]]):
    """``frames`` of events already written as JSON text: ``(seq, text)`` in seq order."""
    parts: list[str] = []
    size = 0
    first = last = None
    for seq, text in texts:
        length = size_of(text)
        if parts and size + length > FRAME_BYTES:
            yield first, last, _frame(last, parts)
            parts, size = [], 0
        if not parts:
            first = seq
        parts.append(text)
        size += length + 1
        last = seq
    if parts:
        yield first, last, _frame(last, parts)


def _frame(last: int, parts: list[str]) -> str:
    return f'{{"type": "events", "seq": {last}, "events": [{",".join(parts)}]}}'


def coalesce(batch: list) -> list:
    """What a batch streams: every event but those a later one in the same batch supersedes.

    Superseded are ``foreach.progress`` events (the latest per block counts) and the
    ``step.started`` of a foreach item's step that also ended in the batch (its terminal
    event carries the duration). Every terminal state is kept.
    """
    last_progress = {}
    ended = set()
    for index, event in enumerate(batch):
        if event.type == "foreach.progress":
            last_progress[event.path] = index
        elif event.type in TERMINAL and "[" in event.path:
            ended.add(event.path)
    if not last_progress and not ended:
        return batch
    return [e for i, e in enumerate(batch)
            if not (e.type == "foreach.progress" and last_progress[e.path] != i)
            and not (e.type == "step.started" and e.path in ended)]


TERMINAL = frozenset({"step.succeeded", "step.failed", "step.skipped", "step.cancelled"})
