"""Parse YAML/JSON text into plain data plus the source position of every node.

The parser walks libyaml's event stream itself instead of composing a node graph, so it
can refuse what is dangerous before building it: documents over ``MAX_BYTES``, nesting
deeper than ``MAX_DEPTH``, and aliases whose expansion would exceed ``MAX_NODES`` (a
"billion laughs" bomb). Aliases are shared, never copied.
"""

from __future__ import annotations

import datetime
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


@dataclass(slots=True)
class Document:
    """Parsed data and ``positions[path] = (line, column)``, both 1-based."""

    data: object
    positions: dict
    values: dict = None  # path -> position of the value itself (keys are in ``positions``)

    def position(self, path: Path) -> tuple[int, int]:
        """The nearest known position for ``path`` (walking up to its parents)."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def issue(self, path: Path, message: str, at_value: bool = False) -> Issue:
        """An Issue at ``path``: at its key, or with ``at_value`` at the value itself."""
        path = tuple(path)
        if at_value and self.values and path in self.values:
            line, col = self.values[path]
        else:
            line, col = self.position(path)
        return Issue(line, col, path_str(path), message)


def _mark(mark) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1)


def _fail(filename: str, mark, message: str, path: Path = ()) -> WorkflowInvalid:
    line, col = _mark(mark) if mark is not None else (1, 1)
    return WorkflowInvalid([Issue(line, col, path_str(path), message)], filename)


class _Frame:
    __slots__ = ("kind", "value", "path", "anchor", "key", "key_mark", "size", "start")

    def __init__(self, kind, value, path, anchor, start):
        self.kind = kind
        self.value = value
        self.path = path
        self.anchor = anchor
        self.key = _NO_KEY
        self.key_mark = None
        self.size = 1
        self.start = start


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
    loader = _Loader(text)
    constructor = _Constructor()
    positions: dict = {}
    values: dict = {}
    anchors: dict = {}  # name -> (value, size)
    stack: list[_Frame] = []
    root = _NO_KEY
    total = 0
    documents = 0
    try:
        while True:
            event = loader.get_event()
            if event is None or isinstance(event, yaml.StreamEndEvent):
                break
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _fail(filename, event.start_mark, "expected one YAML document, found several")
                continue
            if isinstance(event, (yaml.StreamStartEvent, yaml.DocumentEndEvent)):
                continue
            parent = stack[-1] if stack else None
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frame = stack.pop()
                if frame.anchor:
                    anchors[frame.anchor] = (frame.value, frame.size)
                value, size = frame.value, frame.size
                parent = stack[-1] if stack else None
                if parent is None:
                    root = value
                else:
                    _attach(parent, value, size, frame.start, filename, positions, values)
                continue
            if parent is not None and parent.kind == "map" and parent.key is _NO_KEY:
                # this event is a key
                if not isinstance(event, yaml.ScalarEvent):
                    raise _fail(filename, event.start_mark, "mapping keys must be plain scalars", parent.path)
                key = _scalar(loader, constructor, event)
                if not isinstance(key, (str, int, float, bool)) and key is not None:
                    raise _fail(filename, event.start_mark, "mapping keys must be plain scalars", parent.path)
                key = str(key) if not isinstance(key, str) else key
                if key in parent.value:
                    raise _fail(filename, event.start_mark, f"duplicate key '{key}'", parent.path + (key,))
                parent.key = key
                parent.key_mark = event.start_mark
                continue
            child_path = _child_path(parent)
            if isinstance(event, yaml.AliasEvent):
                if event.anchor not in anchors:
                    raise _fail(filename, event.start_mark, f"unknown alias '*{event.anchor}'", child_path)
                value, size = anchors[event.anchor]
                total += size
                if total > MAX_NODES:
                    raise _fail(
                        filename,
                        event.start_mark,
                        f"aliases expand to more than {MAX_NODES} nodes (refused as an alias bomb)",
                        child_path,
                    )
                if parent is None:
                    root = value
                else:
                    _attach(parent, value, size, event.start_mark, filename, positions, values)
                continue
            total += 1
            if total > MAX_NODES:
                raise _fail(filename, event.start_mark, f"the document has more than {MAX_NODES} nodes", child_path)
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if len(stack) >= MAX_DEPTH:
                    raise _fail(
                        filename, event.start_mark, f"nesting deeper than {MAX_DEPTH} levels", child_path
                    )
                kind = "map" if isinstance(event, yaml.MappingStartEvent) else "seq"
                if event.tag and event.tag not in ("!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"):
                    raise _fail(filename, event.start_mark, f"unsupported YAML tag {event.tag}", child_path)
                stack.append(_Frame(kind, {} if kind == "map" else [], child_path, event.anchor, event.start_mark))
                if parent is None:
                    positions[()] = _mark(event.start_mark)
                continue
            # scalar value
            value = _scalar(loader, constructor, event)
            if event.anchor:
                anchors[event.anchor] = (value, 1)
            if parent is None:
                root = value
                positions[()] = _mark(event.start_mark)
            else:
                _attach(parent, value, 1, event.start_mark, filename, positions, values)
    finally:
        loader.dispose()
    if root is _NO_KEY or root is None:
        raise _fail(filename, None, "the document is empty")
    positions.setdefault((), (1, 1))
    return Document(root, positions, values)


def _child_path(parent: _Frame | None) -> Path:
    if parent is None:
        return ()
    if parent.kind == "map":
        return parent.path + (parent.key,)
    return parent.path + (len(parent.value),)


def _attach(parent: _Frame, value, size, mark, filename, positions, values) -> None:
    if parent.kind == "map":
        key = parent.key
        parent.value[key] = value
        positions[parent.path + (key,)] = _mark(parent.key_mark)
        values[parent.path + (key,)] = _mark(mark)
        parent.key = _NO_KEY
    else:
        positions[parent.path + (len(parent.value),)] = _mark(mark)
        parent.value.append(value)
    parent.size += size


def _scalar(loader, constructor, event):
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    try:
        value = constructor.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise yaml.MarkedYAMLError(problem=exc.problem or str(exc), problem_mark=event.start_mark) from None
    if isinstance(value, (datetime.date, datetime.datetime)):
        value = value.isoformat()
    if isinstance(value, bytes):
        raise yaml.MarkedYAMLError(problem="binary values are not supported", problem_mark=event.start_mark)
    return value
