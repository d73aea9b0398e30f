"""YAML events to plain values, with the position of every key and value.

ruamel.yaml's *safe* parser turns the text into events; `build` makes plain values from them
(dict, list, str, int, float, bool, None) and remembers where each key and value was written.
Using events instead of ruamel's constructors keeps positions for every value (as the
round-trip loader does) at a fraction of its cost, uses the C parser when `ruamel.yaml.clib` is
installed, and never runs a tag: only the YAML core tags are accepted, anything else
(`!!python/object`, `!!binary`, `!custom`) is a problem. Scalars resolve by YAML 1.2 rules
(`yes` and `on` are strings); timestamps stay strings, as the API takes them. Merge keys
(`<<: *defaults`) work; explicit keys win over merged ones. A document may expand to at most
`MAX_NODES` values with each alias counted at its full size every time it is used; an alias
may only name a complete anchor; nesting is capped at `MAX_DEPTH`; duplicate keys are
reported with both lines.
"""

from __future__ import annotations

import functools
import math
import typing
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.resolver import VersionedResolver

from jobspec.spec.problems import describe

MAX_NODES = 1_000_000
"""Most values one file may expand to, each alias counted at its full size every time."""
MAX_DEPTH = 100
"""Deepest nesting of mappings and lists in one file."""

_CORE = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_CORE + t for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ, _MERGE_TAG, _TIMESTAMP = (_CORE + t for t in ("map", "seq", "merge", "timestamp"))
_PLAIN_STR_TAGS = frozenset({_STR, _TIMESTAMP, _CORE + "value", _CORE + "yaml", "!"})


@dataclass
class Spans:
    """Where each constructed mapping and list was written, by `id()` of the value."""

    maps: dict[int, tuple[Any, dict[Any, tuple[Any, Any]]]] = field(default_factory=dict)
    seqs: dict[int, tuple[Any, list[Any]]] = field(default_factory=dict)
    keep: list[Any] = field(default_factory=list)  # discarded values stay alive: ids stay unique


class Refused(Exception):
    """Parsing this file stops here; the problem is already recorded."""


class At(typing.Protocol):
    """Where a problem is reported: a 1-based line and column, the message and a hint."""

    def __call__(self, line: int, column: int, message: str, hint: str | None = None) -> None: ...


def text_position(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of a character offset into `text`."""
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


_MERGE = object()  # a `<<` key, until its value arrives

# ruamel's YAML 1.2 rules for plain scalars, by first character: [(tag, regexp), ...]
_IMPLICIT: dict[str, list[tuple[str, Any]]] = VersionedResolver(version=(1, 2)).versioned_resolver


@functools.lru_cache(maxsize=4096)
def _plain_tag(value: str) -> str:
    """The tag YAML 1.2 gives a plain (unquoted, untagged) scalar, as ruamel resolves it.

    Cached: spec files repeat the same few plain values (`manual`, `copy`, `true`) thousands
    of times, and each was matched against the resolver's expressions again."""
    for tag, regexp in _IMPLICIT.get(value[:1], ()):
        if regexp.match(value):
            return str(tag)
    return _STR


class _Frame:
    __slots__ = ("anchor", "count_at_start", "key", "key_mark", "mark", "marks", "merges", "value")

    def __init__(self, value: Any, mark: Any, anchor: str | None, count: int) -> None:
        self.value = value
        self.mark = mark
        self.anchor = anchor
        self.count_at_start = count
        self.key: Any = _NO_KEY
        self.key_mark: Any = None
        self.marks: Any = {} if isinstance(value, dict) else []
        self.merges: list[tuple[Any, Any]] = []


_NO_KEY = object()


def build(text: str, at: At, *, pure: bool = False) -> tuple[Any, Spans, Any]:
    """The first document of `text` as plain values, with the positions of its parts.

    `pure` picks ruamel's pure-Python parser over the C one (see `load_specs`).

    Raises `Refused` after recording a problem when the file cannot be used at all.
    """
    spans = Spans()
    anchors: dict[str, tuple[Any, int]] = {}
    stack: list[_Frame] = []
    count = 0
    documents = 0
    root: Any = None
    root_mark: Any = None

    def mark_at(mark: Any, message: str, hint: str | None = None) -> None:
        at(mark.line + 1, mark.column + 1, message, hint)

    def deliver(value: Any, mark: Any, anchor: str | None, start: int) -> None:
        nonlocal root, root_mark
        if anchor is not None:
            anchors[anchor] = (value, count - start)
        if not stack:
            root, root_mark = (_MERGE_TEXT if value is _MERGE else value), mark
            return
        parent = stack[-1]
        if isinstance(parent.value, dict) and parent.key is _NO_KEY:
            parent.key, parent.key_mark = value, mark
            return
        if value is _MERGE:  # `<<` is only special as a key
            value = _MERGE_TEXT
        if isinstance(parent.value, list):
            parent.value.append(value)
            parent.marks.append(mark)
        else:
            _add_pair(parent, value, mark, mark_at, spans)

    parser = YAML(typ="safe", pure=pure)
    try:
        for event in parser.parse(text):
            kind = type(event)
            if kind is ScalarEvent:
                count += 1
                value = _scalar(event, mark_at)
                deliver(value, event.start_mark, event.anchor, count - 1)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                is_map = kind is MappingStartEvent
                _check_collection_tag(event, _MAP if is_map else _SEQ, mark_at)
                if len(stack) >= MAX_DEPTH:
                    mark_at(event.start_mark, f"nesting deeper than {MAX_DEPTH} levels")
                    raise Refused
                count += 1
                container: Any = {} if is_map else []
                stack.append(_Frame(container, event.start_mark, event.anchor, count - 1))
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                frame = stack.pop()
                if isinstance(frame.value, dict):
                    _apply_merges(frame, mark_at, spans)
                    spans.maps[id(frame.value)] = (frame.mark, frame.marks)
                else:
                    spans.seqs[id(frame.value)] = (frame.mark, frame.marks)
                deliver(frame.value, frame.mark, frame.anchor, frame.count_at_start)
            elif kind is AliasEvent:
                target = anchors.get(event.anchor)
                if target is None:
                    mark_at(
                        event.start_mark,
                        f"alias `*{event.anchor}` names no anchor defined before it",
                        "an alias can only refer to a complete `&anchor` above it",
                    )
                    raise Refused
                count += target[1]
                deliver(target[0], event.start_mark, None, count)
            elif kind is DocumentStartEvent:
                documents += 1
                if documents > 1:
                    mark_at(
                        event.start_mark,
                        "a spec file holds one YAML document; found a second one",
                        "put each document in its own file, or merge their `jobs`",
                    )
                    raise Refused
            if count > MAX_NODES:
                mark_at(
                    event.start_mark,
                    f"document expands to more than {MAX_NODES:,} values "
                    "(aliases count in full each time they are used); refusing it",
                )
                raise Refused
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        at(line, column, _yaml_message(exc), _yaml_hint(text, line))
        raise Refused from None
    except ReaderError as exc:
        # The C reader counts bytes, the Python one characters: find the character instead.
        offset = text.find(chr(exc.character)) if isinstance(exc.character, int) else -1
        line, column = text_position(text, offset if offset >= 0 else exc.position)
        at(line, column, f"character U+{exc.character:04X} is not allowed in YAML text")
        raise Refused from None
    except YAMLError as exc:
        at(1, 1, f"invalid YAML: {exc}")
        raise Refused from None
    except UnicodeEncodeError as exc:  # a lone surrogate, only possible in text given directly
        line, column = text_position(text, exc.start)
        at(line, column, "not valid UTF-8 text")
        raise Refused from None
    spans.keep.append(anchors)
    return root, spans, root_mark


_MERGE_TEXT = "<<"


def _add_pair(parent: _Frame, value: Any, mark: Any, mark_at: Any, spans: Spans) -> None:
    key, key_mark = parent.key, parent.key_mark
    parent.key = _NO_KEY
    if key is _MERGE:
        parent.merges.append((value, mark))
        return
    if isinstance(key, dict | list):
        mark_at(key_mark, "a mapping key must be a plain value, not a mapping or a list")
        spans.keep.append(key)
        return
    mapping: dict[Any, Any] = parent.value
    if key in mapping:
        first = parent.marks[key][0]
        mark_at(
            key_mark,
            f"duplicate key `{key}` (first at line {first.line + 1})",
            "each key may appear once in a mapping",
        )
        spans.keep.append(value)
        return
    mapping[key] = value
    parent.marks[key] = (key_mark, mark)


def _apply_merges(frame: _Frame, mark_at: Any, spans: Spans) -> None:
    """`<<: *a` or `<<: [*a, *b]`: keys written in the mapping win, then earlier sources."""
    for value, mark in frame.merges:
        sources = value if isinstance(value, list) else [value]
        for source in sources:
            if not isinstance(source, dict):
                mark_at(mark, "a `<<` merge takes a mapping or a list of mappings")
                continue
            source_marks = spans.maps[id(source)][1]
            for key, item in source.items():
                if key not in frame.value:
                    frame.value[key] = item
                    frame.marks[key] = source_marks[key]


def _check_collection_tag(event: Any, expected: str, mark_at: Any) -> None:
    tag = event.tag
    if tag is not None and str(tag) not in (expected, "!"):
        mark_at(event.start_mark, f"unsupported tag `{_short_tag(tag)}`", _TAG_HINT)


_TAG_HINT = "specs accept plain YAML values only: remove the tag"


def _short_tag(tag: Any) -> str:
    text = str(tag)
    return "!!" + text[len(_CORE) :] if text.startswith(_CORE) else text


def _scalar(event: Any, mark_at: Any) -> Any:
    value: str = event.value
    if event.tag is not None:
        tag = str(event.tag)
    elif event.implicit[0]:
        tag = _plain_tag(value)
    else:
        return value  # quoted
    if tag in _PLAIN_STR_TAGS:
        return value
    if tag == _NULL:
        return None
    if tag == _BOOL:
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
    elif tag == _INT:
        number = _to_int(value)
        if number is not None:
            return number
    elif tag == _FLOAT:
        real = _to_float(value)
        if real is not None and math.isfinite(real):
            return real
        if real is not None:
            mark_at(
                event.start_mark,
                f"{describe(value)} is not a finite number (JSON has no infinity or NaN)",
                "quote it if you mean the text",
            )
            return value
    elif tag == _MERGE_TAG:
        return _MERGE
    else:
        mark_at(event.start_mark, f"unsupported tag `{_short_tag(tag)}`", _TAG_HINT)
        return value
    mark_at(event.start_mark, f"{describe(value)} is not a valid {_short_tag(tag)} value")
    return value


def _to_int(value: str) -> int | None:
    text = value.replace("_", "")
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    bases = {"0b": 2, "0o": 8, "0x": 16}
    try:
        if text[:2] in bases:
            return sign * int(text[2:], bases[text[:2]])
        return sign * int(text)
    except ValueError:  # includes numbers too long to convert
        return None


def _to_float(value: str) -> float | None:
    text = value.replace("_", "").lower()
    if text.lstrip("+-") == ".inf":
        return -math.inf if text.startswith("-") else math.inf
    if text == ".nan":
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def _yaml_message(exc: MarkedYAMLError) -> str:
    problem = (exc.problem or "invalid YAML").strip()
    if exc.context and exc.problem_mark is not None:
        return f"YAML syntax: {problem} ({exc.context.strip()})"
    return f"YAML syntax: {problem}"


def _yaml_hint(text: str, line: int) -> str | None:
    lines = text.split("\n", line)
    source_line = lines[line - 1] if len(lines) >= line else ""
    indent = source_line[: len(source_line) - len(source_line.lstrip(" \t"))]
    if "\t" in indent:
        return "indent with spaces: YAML does not allow tabs for indentation"
    return None
