"""Parse YAML/JSON text into plain data plus the source position of every node.

The parser walks libyaml's event stream itself instead of composing a node graph, so it
can refuse what is dangerous before building it: documents over ``MAX_BYTES``, nesting
deeper than ``MAX_DEPTH``, and aliases whose expansion would exceed ``MAX_NODES`` (a
"billion laughs" bomb). Aliases are shared, never copied.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from .errors import Issue, WorkflowInvalid

MAX_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_NODES = 200_000

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Constructor(yaml.constructor.SafeConstructor):
    """Safe scalars, with timestamps kept as text (workflows are JSON data)."""


_Constructor.add_constructor(
    "tag:yaml.org,2002:timestamp", yaml.constructor.SafeConstructor.construct_yaml_str
)

Path = tuple  # of str | int


def path_str(path: Path) -> str:
    """``('steps', 1, 'with', 'query')`` → ``steps[1].with.query``."""
    out = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        else:
            out.append(f".{part}" if out else str(part))
    return "".join(out)


#: the keys of a step (or of the workflow) holding a list of steps (spec.STEP_LIST_KEYS; not
#: imported: the parser knows nothing of the models)
_STEP_LISTS = ("parallel", "steps", "default", "compensate", "on_failure", "finally")
_SHORT_ID = 100  # longer "ids" are not ids (the loader says so): shown as ?


def step_path(data, path: Path) -> str:
    """The steps ``path`` goes through, named as the monitor names them: ``fetch.a``,
    ``each[*].download`` (a foreach body or a repeat, any item or pass), ``route.book`` (a
    switch case), ``flight.compensate.undo``, ``block.alert`` (a hook); "" outside any step.
    O(len(path)): the data is walked along the path only."""
    ids: list[str] = []
    node, i, n = data, 0, len(path)
    while i < n and isinstance(node, dict):
        key = path[i]
        value = node.get(key) if isinstance(key, str) else None
        if key == "cases" and isinstance(value, dict) and i + 1 < n:
            steps, i = value.get(path[i + 1]), i + 2
        elif key in _STEP_LISTS and isinstance(value, list):
            steps, i = value, i + 1
        else:
            break
        if not isinstance(steps, list) or i >= n or not isinstance(path[i], int) \
                or not 0 <= path[i] < len(steps) or not isinstance(steps[path[i]], dict):
            break
        if ids and key == "compensate":
            ids[-1] += ".compensate"
        elif ids and key == "steps" and ("foreach" in node or "repeat" in node):
            ids[-1] += "[*]"
        node = steps[path[i]]
        name = node.get("id")
        ids.append(name if isinstance(name, str) and 0 < len(name) <= _SHORT_ID else "?")
        i += 1
    return ".".join(ids)


#: a position kept as one int, ``line << _SHIFT | column`` (0-based, as libyaml counts): a
#: 10 000-step document has 150 000 of them, and as tuples each would be one more object for the
#: garbage collector to scan. A column is below 2**21 (a document is at most 1 MiB).
_SHIFT = 22
_COLUMN = (1 << _SHIFT) - 1


class Positions(Mapping):
    """``path -> (line, column)``, 1-based, read from the packed ints the parser keeps."""

    __slots__ = ("packed",)

    def __init__(self, packed: dict):
        self.packed = packed

    def __getitem__(self, path) -> tuple[int, int]:
        value = self.packed[path]
        return (value >> _SHIFT) + 1, (value & _COLUMN) + 1

    def __contains__(self, path) -> bool:
        return path in self.packed

    def __iter__(self):
        return iter(self.packed)

    def __len__(self) -> int:
        return len(self.packed)


@dataclass(slots=True)
class Document:
    """Parsed data and ``positions[path] = (line, column)``, both 1-based."""

    data: object
    positions: Positions
    values: Positions = None  # path -> position of the value itself (keys are in ``positions``)
    #: path -> (YAML text, "number" | "boolean" | "null") of a key that was not text (``1:``,
    #: ``true:``, ``~:``): keys are made text (``'1'``, ``'True'``, ``'None'``); the rules that
    #: care (switch cases) look here
    typed_keys: dict = None

    def position(self, path: Path) -> tuple[int, int]:
        """The nearest known position for ``path`` (walking up to its parents)."""
        path = tuple(path)
        packed = self.positions.packed
        while path:
            value = packed.get(path)
            if value is not None:
                return (value >> _SHIFT) + 1, (value & _COLUMN) + 1
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def issue(self, path: Path, message: str, at_value: bool = False) -> Issue:
        """An Issue at ``path``: at its key, or with ``at_value`` at the value itself."""
        path = tuple(path)
        if at_value and self.values and path in self.values:
            line, col = self.values[path]
        else:
            line, col = self.position(path)
        return Issue(line, col, path_str(path), message, step_path(self.data, path))


def _mark(mark) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1)


def _fail(filename: str, mark, message: str, path: Path = ()) -> WorkflowInvalid:
    line, col = _mark(mark) if mark is not None else (1, 1)
    return WorkflowInvalid([Issue(line, col, path_str(path), message)], filename)


_NO_KEY = object()


def parse(text: str | bytes, filename: str = "<workflow>") -> Document:
    """Parse one YAML (or JSON) document; raise WorkflowInvalid with its position on error."""
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise _too_big(filename, len(text))
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _fail(filename, None, f"the file is not UTF-8 text ({exc.reason})") from None
    if len(text) > MAX_BYTES or len(text.encode("utf-8")) > MAX_BYTES:
        raise _too_big(filename, len(text.encode("utf-8")))
    try:
        return _compose(text, filename)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or str(exc)
        if exc.context and exc.problem:
            message = f"{exc.problem} ({exc.context})"
        raise _fail(filename, mark, f"invalid YAML: {message}") from None
    except yaml.YAMLError as exc:
        raise _fail(filename, None, f"invalid YAML: {exc}") from None


def _too_big(filename: str, size: int) -> WorkflowInvalid:
    return _fail(filename, None, f"the document is {size} bytes; the limit is {MAX_BYTES} (1 MiB)")


def _compose(text: str, filename: str) -> Document:
    """The event loop: the container being read is kept in locals (its enclosing containers'
    state saved on ``stack``), and plain text, the common scalar, is taken without a call: a
    10 000-step workflow is about 170 000 events, so each one's bytecode counts."""
    loader = _Loader(text)
    get_event = loader.get_event
    constructor = _Constructor()
    positions: dict = {}
    values: dict = {}
    typed_keys: dict = {}
    anchors: dict = {}  # name -> (value, size)
    resolved: dict = {}  # (plain text, implicit) -> its tag
    stack: list[tuple] = []  # the enclosing containers' state, while a nested one is read
    problems: list[Issue] = []  # bad values (numbers out of range, ...): all reported at the end
    # the container being read: its value (None at the top), whether it is a mapping, its path,
    # the key read and not yet given a value, that key's mark, ``total`` once it was counted
    # (its size in nodes is 1 + what was counted since: scalars, containers, aliases expanded),
    # its anchor and its start mark
    container, is_map, path, key, key_mark, begun, anchor, start = None, False, (), _NO_KEY, None, 0, None, None
    root = _NO_KEY
    total = 0
    documents = 0
    special = _SPECIAL
    try:
        while True:
            event = get_event()
            kind = type(event)
            if kind is _ScalarEvent:
                value = event.value
                tag = event.tag
                # untagged text no resolver claims (by its first character), or quoted
                plain = (tag is None or tag == "!") and (value[:1] not in special or not event.implicit[0])
                if is_map and key is _NO_KEY:
                    if plain:
                        if value in container:
                            raise _fail(filename, event.start_mark, f"duplicate key '{value}'", path + (value,))
                        key = value
                    else:
                        key = _key(loader, constructor, event, filename, path, container, typed_keys, resolved)
                    key_mark = event.start_mark
                    continue
                total += 1
                if total > MAX_NODES:
                    raise _fail(filename, event.start_mark, f"the document has more than {MAX_NODES} nodes",
                                _child_path(container, is_map, path, key))
                if not plain:
                    try:
                        value = _scalar(loader, constructor, event, resolved)
                    except _Bad as bad:
                        where = path_str(_child_path(container, is_map, path, key))
                        problems.append(Issue(*_mark(event.start_mark), where, bad.message))
                        value = None
                if event.anchor:
                    anchors[event.anchor] = (value, 1)
                mark = event.start_mark
                if is_map:
                    container[key] = value
                    here = path + (key,)
                    positions[here] = key_mark.line << _SHIFT | key_mark.column
                    values[here] = mark.line << _SHIFT | mark.column
                    key = _NO_KEY
                elif container is not None:
                    positions[path + (len(container),)] = mark.line << _SHIFT | mark.column
                    container.append(value)
                else:
                    root = value
                    positions[()] = mark.line << _SHIFT | mark.column
                continue
            if kind is _MappingEndEvent or kind is _SequenceEndEvent:
                value, mark = container, start
                if anchor:
                    anchors[anchor] = (value, total - begun + 1)
                container, is_map, path, key, key_mark, begun, anchor, start = stack.pop()
                if is_map:
                    container[key] = value
                    here = path + (key,)
                    positions[here] = key_mark.line << _SHIFT | key_mark.column
                    values[here] = mark.line << _SHIFT | mark.column
                    key = _NO_KEY
                elif container is not None:
                    positions[path + (len(container),)] = mark.line << _SHIFT | mark.column
                    container.append(value)
                else:
                    root = value
                continue
            if event is None or kind is yaml.StreamEndEvent:
                break
            if kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _fail(filename, event.start_mark, "expected one YAML document, found several")
                continue
            if kind is yaml.StreamStartEvent or kind is yaml.DocumentEndEvent:
                continue
            if is_map and key is _NO_KEY:
                raise _fail(filename, event.start_mark, "mapping keys must be plain scalars", path)
            child = _child_path(container, is_map, path, key)
            if kind is yaml.AliasEvent:
                if event.anchor not in anchors:
                    raise _fail(filename, event.start_mark, f"unknown alias '*{event.anchor}'", child)
                value, inner = anchors[event.anchor]
                total += inner
                if total > MAX_NODES:
                    raise _fail(
                        filename,
                        event.start_mark,
                        f"aliases expand to more than {MAX_NODES} nodes (refused as an alias bomb)",
                        child,
                    )
                mark = event.start_mark
                if is_map:
                    container[key] = value
                    positions[child] = key_mark.line << _SHIFT | key_mark.column
                    values[child] = mark.line << _SHIFT | mark.column
                    key = _NO_KEY
                elif container is not None:
                    positions[child] = mark.line << _SHIFT | mark.column
                    container.append(value)
                else:
                    root = value
                continue
            # the start of a mapping or a sequence
            total += 1
            if total > MAX_NODES:
                raise _fail(filename, event.start_mark, f"the document has more than {MAX_NODES} nodes", child)
            if len(stack) >= MAX_DEPTH:
                raise _fail(filename, event.start_mark, f"nesting deeper than {MAX_DEPTH} levels", child)
            if event.tag and event.tag not in ("!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"):
                raise _fail(filename, event.start_mark, f"unsupported YAML tag {event.tag}", child)
            if container is None:
                positions[()] = event.start_mark.line << _SHIFT | event.start_mark.column
            stack.append((container, is_map, path, key, key_mark, begun, anchor, start))
            is_map = kind is yaml.MappingStartEvent
            container, path, key, key_mark, begun = ({} if is_map else []), child, _NO_KEY, None, total
            anchor, start = event.anchor, event.start_mark
    finally:
        loader.dispose()
    if problems:
        raise WorkflowInvalid(problems, filename)
    if root is _NO_KEY or root is None:
        raise _fail(filename, None, "the document is empty")
    positions.setdefault((), 0)  # (1, 1)
    return Document(root, Positions(positions), Positions(values), typed_keys)


_ScalarEvent, _MappingEndEvent, _SequenceEndEvent = yaml.ScalarEvent, yaml.MappingEndEvent, yaml.SequenceEndEvent


def _key(loader, constructor, event, filename: str, path: Path, container: dict, typed_keys: dict,
         resolved: dict) -> str:
    """A mapping key as text (``1`` → ``'1'``, noted in ``typed_keys``); refused at once when it
    cannot be one."""
    try:
        key = _scalar(loader, constructor, event, resolved)
    except _Bad as bad:
        raise _fail(filename, event.start_mark, f"bad key: {bad.message}", path) from None
    if not isinstance(key, (str, int, float, bool)) and key is not None:
        raise _fail(filename, event.start_mark, "mapping keys must be plain scalars", path)
    if not isinstance(key, str):
        kind = "boolean" if isinstance(key, bool) else "null" if key is None else "number"
        key = str(key)
        typed_keys[path + (key,)] = (event.value[:40], kind)
    if key in container:
        raise _fail(filename, event.start_mark, f"duplicate key '{key}'", path + (key,))
    return key


def _child_path(container, is_map: bool, path: Path, key) -> Path:
    """The path of the node about to be read in ``container`` (() at the top)."""
    if container is None:
        return ()
    if is_map:
        return path + (key,)
    return path + (len(container),)


class _Bad(Exception):
    """A scalar that cannot be workflow data; the caller reports it at its place."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
#: first characters after which a plain scalar may be more than text (null, bool, number, ...)
_SPECIAL = frozenset(yaml.SafeLoader.yaml_implicit_resolvers) | {""}
#: plain decimal integers (no ``_``, no leading zero: YAML 1.1 reads ``010`` as octal), 18
#: digits at most: always in range
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]{0,17})\Z")
MAX_INT = 2**63 - 1
MIN_INT = -(2**63)


def _scalar(loader, constructor, event, resolved: dict):
    """The value of a scalar event; ``resolved`` caches the tags of plain text for one parse
    (``0``, ``true``, ``needs``, ``timeout``... recur on every step)."""
    tag = event.tag
    value = event.value
    if tag is None or tag == "!":
        if not event.implicit[0] or value[:1] not in _SPECIAL:
            return value  # quoted, or plain text no resolver claims: the common case, made fast
        cached = (value, event.implicit)
        tag = resolved.get(cached)
        if tag is None:
            tag = loader.resolve(yaml.ScalarNode, value, event.implicit)
            if len(value) <= 32:
                resolved[cached] = tag
    if tag == _STR:
        return value
    if tag == _INT:
        if len(value) > 100:  # refused before converting: int() of long text is slow
            raise _Bad(_too_large(value))
        if _DECIMAL.match(value):  # what construct_yaml_int would do, without a node
            return int(value)
    node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, event.style)
    try:
        value = constructor.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise _Bad(exc.problem or str(exc)) from None
    except ValueError as exc:  # e.g. !!int with text that is not a number
        raise _Bad(f"not a valid {tag.rsplit(':', 1)[-1]}: {str(exc)[:100]}") from None
    if isinstance(value, int) and not isinstance(value, bool) and not MIN_INT <= value <= MAX_INT:
        raise _Bad(_too_large(event.value))
    if isinstance(value, float) and not math.isfinite(value):
        raise _Bad(f"{event.value} is not a finite number (JSON, databases and browsers have no NaN or infinity)")
    if isinstance(value, (datetime.date, datetime.datetime)):
        value = value.isoformat()
    if isinstance(value, bytes):
        raise _Bad("binary values are not supported")
    return value


def _too_large(text: str) -> str:
    shown = text if len(text) <= 24 else text[:20] + "…"
    return f"the integer {shown} is out of range (integers are 64-bit: {MIN_INT} to {MAX_INT})"
