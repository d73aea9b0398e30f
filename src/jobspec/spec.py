"""Load and validate the YAML spec files: the only module that imports ruamel.yaml.

It owns the way from `specs/*.yaml` to `DesiredJob` values, and every problem on the way,
each at a `file:line:column` (1-based) that a user or an editor can jump to. Problems are
collected across all files in one pass, so a syntax error in one file hides nothing in another.

How a file is read, and why:
- Only `*.yaml` and `*.yml` files directly inside the directory are specs (not recursive), in
  name order, so that a stray `specs/old/` or a fixture folder below it is never applied by
  accident.
- ruamel.yaml's *safe* parser turns the text into events; this module builds plain values from
  them (dict, list, str, int, float, bool, None) and remembers where each key and value was
  written. Using events instead of ruamel's constructors keeps positions for every value (as the
  round-trip loader does) at a fraction of its cost, uses the C parser when `ruamel.yaml.clib` is
  installed, and never runs a tag: only the YAML core tags are accepted, anything else
  (`!!python/object`, `!!binary`, `!custom`) is a problem.
- Scalars resolve by YAML 1.2 rules (`yes` and `on` are strings). Timestamps stay strings,
  as the API takes them. Merge keys (`<<: *defaults`) work; explicit keys win over merged ones.
- Hostile input is a problem, never a traceback: files over `MAX_FILE_BYTES` are refused
  before they are read; text must be UTF-8; a document may expand to at most `MAX_NODES`
  values with each alias counted at its full size every time it is used (a "billion laughs"
  stops there instead of growing exponentially); an alias may only name a complete anchor, so
  a recursive alias cannot exist; nesting is capped at `MAX_DEPTH`; duplicate keys are reported
  with both lines.
"""

from __future__ import annotations

import difflib
import enum
import gc
import io
import math
import re
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
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
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from jobspec.errors import Problem, SpecError
from jobspec.model import (
    ADDRESS_PATTERN,
    ADDRESS_RE,
    JOB_ID_PATTERN,
    SPEC_VERSION,
    DesiredJob,
    JobSpec,
    SourceLocation,
    SpecFile,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "SPEC_SUFFIXES",
    "collect_problems",
    "format_spec_text",
    "load_specs",
    "read_pairs",
    "render_generated",
    "spec_files",
    "yaml_value",
]

SPEC_SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = 5 * 1024 * 1024
"""Larger files are refused unread: no real spec file comes near this."""
MAX_NODES = 1_000_000
"""Most values one file may expand to, each alias counted at its full size every time."""
MAX_DEPTH = 100
"""Deepest nesting of mappings and lists in one file."""

_CORE = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_CORE + t for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ, _MERGE_TAG, _TIMESTAMP = (_CORE + t for t in ("map", "seq", "merge", "timestamp"))
_PLAIN_STR_TAGS = frozenset({_STR, _TIMESTAMP, _CORE + "value", _CORE + "yaml", "!"})


def load_specs(directory: Path, *, pure: bool = False) -> dict[str, DesiredJob]:
    """Every job in the spec files of `directory`, by address (sorted).

    Raises `SpecError` carrying every problem found, across all files, in one pass. `pure`
    parses with ruamel's pure-Python parser even where its C parser is installed (the tests
    run both: they must read every file alike).
    """
    desired, problems = collect_problems(directory, pure=pure)
    if problems:
        raise SpecError(problems)
    return desired


def collect_problems(
    directory: Path, *, pure: bool = False
) -> tuple[dict[str, DesiredJob], list[Problem]]:
    """The valid jobs (by address, sorted) and every problem, in file then position order.

    `pure`: as for `load_specs`.
    """
    shown_dir = _shown(directory)
    if not directory.exists():
        return {}, [Problem(shown_dir, 1, 1, f"spec directory {shown_dir}/ does not exist")]
    if not directory.is_dir():
        return {}, [Problem(shown_dir, 1, 1, f"{shown_dir} is not a directory")]
    try:
        files = spec_files(directory)
    except OSError as exc:
        return {}, [Problem(shown_dir, 1, 1, f"cannot list {shown_dir}/: {exc.strerror}")]
    if not files:
        return {}, [Problem(shown_dir, 1, 1, f"no *.yaml spec files in {shown_dir}/")]

    # Loading makes many small objects that live until the end; the cyclic collector would
    # rescan them again and again (10,000 jobs took 1.7x longer). They form no cycles.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _load_files(files, pure=pure)
    finally:
        if gc_was_enabled:
            gc.enable()


def format_spec_text(text: str) -> str:
    """The canonical form of a spec file: comments, key order and flow style kept.

    ruamel's round-trip loader re-emits the file with two-space indentation, sequences
    indented under their key, no trailing spaces, and minimal quoting; formatting the result
    again changes nothing. Only call it on text that loads without problems.
    """
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 100
    yaml.preserve_quotes = False
    document = yaml.load(text)
    _quote_exactly(document)
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def yaml_value(text: str) -> Any:
    """`text` as one YAML value, read as a spec file's values are (YAML 1.2, core tags only).

    For values typed on the command line (`generate --set PATH=VALUE`): `true`, `3` and
    `{mode: manual}` are a bool, a number and a mapping, as they would be in a spec. Raises
    ValueError with the reason when the text is not one plain YAML value.
    """
    problems: list[str] = []

    def at(line: int, column: int, message: str, hint: str | None = None) -> None:
        problems.append(f"{message} ({hint})" if hint else message)

    try:
        value, _, _ = _build(text, at)
    except _Refused:
        value = None
    if problems:
        raise ValueError(problems[0])
    return value


def read_pairs(path: Path) -> tuple[list[tuple[Any, Any, int]], list[Problem]]:
    """A YAML file that is one mapping (`import --from`): each key and value with its line.

    Problems (unreadable, not YAML, not a mapping) come back as for spec files, positioned.
    """
    shown = _shown(path)
    problems: list[Problem] = []

    def at(line: int, column: int, message: str, hint: str | None = None) -> None:
        problems.append(Problem(shown, line, column, message, hint))

    text = _read_text(path, at)
    if text is None:
        return [], problems
    try:
        root, spans, _ = _build(text, at)
    except _Refused:
        return [], problems
    if not isinstance(root, dict):
        at(1, 1, f"expected a mapping of address to job id, not {_kind(root)}")
        return [], problems
    marks = spans.maps[id(root)][1]
    return [(key, value, marks[key][0].line + 1) for key, value in root.items()], problems


GeneratedJob = tuple[str, dict[str, Any], list[str]]
"""A generated spec: its address, its body, and the comment lines written above it."""


def render_generated(*, header: list[str], jobs: list[GeneratedJob]) -> str:
    """A spec file holding `jobs`, in the canonical form `jobspec fmt` writes.

    Each job's comment lines go above its address, and a blank line separates the jobs, so a
    reviewer reads what each job is next to what the spec asks of it.
    """

    def commented(value: Any) -> Any:
        if isinstance(value, dict):
            return CommentedMap((key, commented(item)) for key, item in value.items())
        if isinstance(value, list):
            return [commented(item) for item in value]
        return _exact_scalar(value)

    written = CommentedMap()
    for index, (address, body, comment) in enumerate(jobs):
        written[address] = commented(body)
        lines = [_one_line(line) for line in comment]
        if lines or index:
            before = "\n".join(lines)
            written.yaml_set_comment_before_after_key(
                address, before=("\n" + before if index else before), indent=2
            )
    root = CommentedMap(version=SPEC_VERSION, jobs=written)
    if header:
        root.yaml_set_start_comment("\n".join(_one_line(line) for line in header))
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 100
    out = io.StringIO()
    yaml.dump(root, out)
    return out.getvalue()


def _exact_scalar(value: Any) -> Any:
    """`value`, double-quoted when it holds a line break (\x85, \u2028) or a control
    character: the emitter folds those inside plain or single-quoted scalars, which changes
    the value (`"x\\Ny"` would come back as `x y`); only double quotes escape them exactly."""
    if isinstance(value, str) and _NOT_IN_A_COMMENT.search(value):
        return DoubleQuotedScalarString(value)
    return value


def _quote_exactly(node: Any) -> None:
    """Apply `_exact_scalar` in place to every string value below `node` (comments kept)."""
    if isinstance(node, dict):
        for key in list(node):
            item = node[key]
            if isinstance(item, dict | list):
                _quote_exactly(item)
            elif isinstance(item, str) and _exact_scalar(item) is not item:
                node[key] = _exact_scalar(item)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            if isinstance(item, dict | list):
                _quote_exactly(item)
            elif isinstance(item, str) and _exact_scalar(item) is not item:
                node[index] = _exact_scalar(item)


def _one_line(text: str) -> str:
    """A comment line: a name with a newline or a control character must not end the comment."""
    return _NOT_IN_A_COMMENT.sub(" ", text).rstrip()


# YAML's printable characters (YAML 1.2, 5.1) without line breaks (\x85, \u2028, \u2029) and
# the byte order mark: anything else in a name would end the comment or be refused.
_NOT_IN_A_COMMENT = re.compile(
    "[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]+"
)


def _load_files(files: list[Path], *, pure: bool) -> tuple[dict[str, DesiredJob], list[Problem]]:
    desired: dict[str, DesiredJob] = {}
    seen: dict[str, SourceLocation] = {}  # every address written, valid job or not
    problems: list[Problem] = []
    for path in files:
        file_problems: list[Problem] = []
        for address, location, job in _load_file(path, file_problems, pure=pure):
            first = seen.setdefault(address, location)
            if first is not location:
                file_problems.append(
                    _problem(
                        location,
                        f"duplicate address `{address}`: also defined at {first}",
                        "addresses must be unique across all spec files",
                    )
                )
            elif job is not None:
                desired[address] = job
        file_problems.sort(key=lambda p: (p.line, p.column))
        problems.extend(file_problems)
    problems.extend(_shared_clone_names(desired))
    return dict(sorted(desired.items())), problems


def _shared_clone_names(desired: dict[str, DesiredJob]) -> list[Problem]:
    """Two specs that give their clones one name: refused, because a clone whose reply was
    lost is recognised by its name, and one spec could then adopt the other's clone."""
    first_by_name: dict[str, DesiredJob] = {}
    problems = []
    for address in sorted(desired):
        wanted = desired[address]
        name = wanted.spec.overrides.name
        if name is None:
            continue  # the default name carries the address, so it is unique
        first = first_by_name.setdefault(name, wanted)
        if first is not wanted:
            problems.append(
                _problem(
                    wanted.location,
                    f"clone name {name!r} is also the name of `{first.address}`'s clone "
                    f"({first.location})",
                    "give each clone its own name: jobspec recognises its clones by name",
                )
            )
    return problems


def spec_files(directory: Path) -> list[Path]:
    """The spec files directly inside `directory` (not recursive), sorted by name."""
    return sorted(
        (p for p in directory.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file()),
        key=lambda p: p.name,
    )


# --- one file -------------------------------------------------------------------------------


@dataclass
class _Spans:
    """Where each constructed mapping and list was written, by `id()` of the value."""

    maps: dict[int, tuple[Any, dict[Any, tuple[Any, Any]]]] = field(default_factory=dict)
    seqs: dict[int, tuple[Any, list[Any]]] = field(default_factory=dict)
    keep: list[Any] = field(default_factory=list)  # discarded values stay alive: ids stay unique


class _Refused(Exception):
    """Parsing this file stops here; the problem is already recorded."""


_Written = tuple[str, SourceLocation, DesiredJob | None]
"""An address as written in a file, where, and its job if the job is valid."""


def _load_file(path: Path, problems: list[Problem], *, pure: bool) -> list[_Written]:
    shown = _shown(path)

    def at(line: int, column: int, message: str, hint: str | None = None) -> None:
        problems.append(Problem(shown, line, column, message, hint))

    text = _read_text(path, at)
    if text is None:
        return []
    try:
        root, spans, root_mark = _build(text, at, pure=pure)
    except _Refused:
        return []
    if root is None:
        at(1, 1, "empty spec file", "a spec file starts with `version: 1` and `jobs:`")
        return []
    return _check_file(shown, root, spans, root_mark, problems)


def _read_text(path: Path, at: _At) -> str | None:
    if _leaves_folder(path):
        at(
            1,
            1,
            "a link to a file outside the spec folder: refused, and not read",
            "spec files are files inside the spec folder; copy the file in instead",
        )
        return None
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            at(1, 1, f"file is {size:,} bytes, over the {_limit()} limit for a spec file")
            return None
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        at(1, 1, f"cannot read the file: {exc.strerror or exc}")
        return None
    if len(data) > MAX_FILE_BYTES:  # it grew since stat()
        at(1, 1, f"file is over the {_limit()} limit for a spec file")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _byte_position(data, exc.start)
        at(line, column, f"not valid UTF-8 text (byte 0x{data[exc.start]:02x})")
        return None
    return text.removeprefix("\ufeff")


def _leaves_folder(path: Path) -> bool:
    """Does `path` (a file directly in the spec folder) resolve to a file outside it?

    A link could make `validate` quote lines of any file the user can read (a key, a
    password file) in its problems, and a CI log would keep them.
    """
    try:
        return not path.resolve(strict=True).is_relative_to(path.parent.resolve(strict=True))
    except (OSError, RuntimeError):  # a dangling or looping link: reading it fails anyway
        return path.is_symlink()


class _At(typing.Protocol):
    def __call__(self, line: int, column: int, message: str, hint: str | None = None) -> None: ...


def _limit() -> str:
    megabytes, rest = divmod(MAX_FILE_BYTES, 1024 * 1024)
    return f"{megabytes} MB" if megabytes and not rest else f"{MAX_FILE_BYTES:,}-byte"


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def _text_position(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


# --- YAML events -> plain values with positions ---------------------------------------------

_MERGE = object()  # a `<<` key, until its value arrives

# ruamel's YAML 1.2 rules for plain scalars, by first character: [(tag, regexp), ...]
_IMPLICIT: dict[str, list[tuple[str, Any]]] = VersionedResolver(version=(1, 2)).versioned_resolver


def _plain_tag(value: str) -> str:
    """The tag YAML 1.2 gives a plain (unquoted, untagged) scalar, as ruamel resolves it."""
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


def _build(text: str, at: _At, *, pure: bool = False) -> tuple[Any, _Spans, Any]:
    """The first document of `text` as plain values, with the positions of its parts.

    `pure` picks ruamel's pure-Python parser over the C one (see `load_specs`).

    Raises `_Refused` after recording a problem when the file cannot be used at all.
    """
    spans = _Spans()
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
                    raise _Refused
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
                    raise _Refused
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
                    raise _Refused
            if count > MAX_NODES:
                mark_at(
                    event.start_mark,
                    f"document expands to more than {MAX_NODES:,} values "
                    "(aliases count in full each time they are used); refusing it",
                )
                raise _Refused
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        at(line, column, _yaml_message(exc), _yaml_hint(text, line))
        raise _Refused from None
    except ReaderError as exc:
        # The C reader counts bytes, the Python one characters: find the character instead.
        offset = text.find(chr(exc.character)) if isinstance(exc.character, int) else -1
        line, column = _text_position(text, offset if offset >= 0 else exc.position)
        at(line, column, f"character U+{exc.character:04X} is not allowed in YAML text")
        raise _Refused from None
    except YAMLError as exc:
        at(1, 1, f"invalid YAML: {exc}")
        raise _Refused from None
    except UnicodeEncodeError as exc:  # a lone surrogate, only possible in text given directly
        line, column = _text_position(text, exc.start)
        at(line, column, "not valid UTF-8 text")
        raise _Refused from None
    spans.keep.append(anchors)
    return root, spans, root_mark


_MERGE_TEXT = "<<"


def _add_pair(parent: _Frame, value: Any, mark: Any, mark_at: Any, spans: _Spans) -> None:
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


def _apply_merges(frame: _Frame, mark_at: Any, spans: _Spans) -> None:
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
                f"{_describe(value)} is not a finite number (JSON has no infinity or NaN)",
                "quote it if you mean the text",
            )
            return value
    elif tag == _MERGE_TAG:
        return _MERGE
    else:
        mark_at(event.start_mark, f"unsupported tag `{_short_tag(tag)}`", _TAG_HINT)
        return value
    mark_at(event.start_mark, f"{_describe(value)} is not a valid {_short_tag(tag)} value")
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


# --- values -> DesiredJob, problems mapped back to positions ---------------------------------


def _check_file(
    shown: str, root: Any, spans: _Spans, root_mark: Any, problems: list[Problem]
) -> list[_Written]:
    def at_mark(mark: Any, message: str, hint: str | None = None) -> None:
        problems.append(Problem(shown, mark.line + 1, mark.column + 1, message, hint))

    if not isinstance(root, dict):
        at_mark(root_mark, f"a spec file is a mapping with `version` and `jobs`, not {_kind(root)}")
        return []
    marks = spans.maps[id(root)][1]
    fields = list(SpecFile.model_fields)
    for key in root:
        if key not in SpecFile.model_fields:
            at_mark(
                marks[key][0], f"unknown top-level key `{key}`", _did_you_mean(str(key), fields)
            )

    newer = False
    if "version" not in root:
        at_mark(root_mark, "missing `version`", f"start the file with `version: {SPEC_VERSION}`")
    else:
        version = root["version"]
        if type(version) is int and version > SPEC_VERSION:
            newer = True
            at_mark(
                marks["version"][1],
                f"spec format version {version} is newer than this jobspec supports "
                f"({SPEC_VERSION})",
                "upgrade jobspec to read this file",
            )
        elif type(version) is not int or version != SPEC_VERSION:
            at_mark(
                marks["version"][1],
                f"`version` must be {SPEC_VERSION}, not {_describe(version)}",
            )

    if "jobs" not in root:
        at_mark(root_mark, "missing `jobs` (a mapping from address to job)")
        return []
    jobs = root["jobs"]
    if not isinstance(jobs, dict):
        at_mark(
            marks["jobs"][0 if jobs is None else 1],
            f"`jobs` must be a mapping from address to job, not {_kind(jobs)}",
        )
        return []
    if newer:
        return []  # its jobs may use fields this version does not know: no noise about them

    job_marks = spans.maps[id(jobs)][1]
    written: list[_Written] = []
    for address, raw in jobs.items():
        key_mark, value_mark = job_marks[address]
        good_address = isinstance(address, str) and ADDRESS_RE.match(address) is not None
        if not isinstance(address, str):
            at_mark(key_mark, f"address {_describe(address)} must be a string", _QUOTE)
        elif not good_address:
            at_mark(
                key_mark,
                f"address `{address}` must match {ADDRESS_PATTERN} "
                "(lowercase letters, digits, `.`, `_`, `-`)",
                _address_hint(address),
            )
        job: DesiredJob | None = None
        location = SourceLocation(file=shown, line=key_mark.line + 1, column=key_mark.column + 1)
        try:
            spec = JobSpec.model_validate(raw)
        except ValidationError as exc:
            written_at = (key_mark, value_mark)
            for problem in _explain(exc, raw, ("jobs", address), written_at, spans):
                at_mark(*problem)
        else:
            if good_address:
                job = DesiredJob(address=address, spec=spec, location=location)
        if isinstance(address, str):
            written.append((address, location, job))
    return written


def _address_hint(address: Any) -> str | None:
    slug = re.sub(r"[^a-z0-9._-]+", "-", str(address).lower()).strip("-._")
    return f"did you mean `{slug}`?" if slug and ADDRESS_RE.match(slug) else None


_TYPE_WORDS = {
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "none_required": "null",
}


def _explain(
    exc: ValidationError, raw: Any, prefix: tuple[Any, ...], marks: tuple[Any, Any], spans: _Spans
) -> Iterator[tuple[Any, str, str | None]]:
    """Each pydantic error of one job as (mark, message, hint), merged where they share a spot."""
    grouped: dict[tuple[Any, ...], list[tuple[dict[str, Any], Any, bool]]] = {}
    for details in exc.errors(include_url=False):
        path, mark, at_key = _locate(raw, marks, details, spans)
        grouped.setdefault(path, []).append((dict(details), mark, at_key))
    for path, errors in grouped.items():
        shown_path = ".".join(str(p) for p in (*prefix, *path))
        first, mark, at_key = errors[0]
        if len(errors) > 1 and all(e["type"] in _TYPE_WORDS for e, _, _ in errors):
            wanted = " or ".join(dict.fromkeys(_TYPE_WORDS[e["type"]] for e, _, _ in errors))
            yield mark, f"{shown_path}: expected {wanted}, not {_describe(first['input'])}", None
            continue
        parent_path = ".".join(str(p) for p in (*prefix, *path[:-1]))
        for error, mark, at_key in errors:
            yield (mark, *_message(error, path, shown_path, parent_path, at_key))


def _locate(
    raw: Any, marks: tuple[Any, Any], error: Any, spans: _Spans
) -> tuple[tuple[Any, ...], Any, bool]:
    """The part of an error's `loc` that exists in the data, and the mark to point at.

    `marks` are where the job's address and body were written. Elements of `loc` that do not
    exist (union branch names, a missing key) are dropped. An unknown key points at the key, a
    missing key at the key of the mapping that lacks it, anything else at the value.
    """
    loc = error["loc"]
    node = raw
    key_mark, mark = marks
    path: list[Any] = []
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node and id(node) in spans.maps:
            key_mark, mark = spans.maps[id(node)][1][part]
            path.append(part)
            if error["type"] == "extra_forbidden" and i == len(loc) - 1:
                return tuple(path), key_mark, True
            if i + 1 < len(loc) and loc[i + 1] == "[key]":
                return tuple(path), key_mark, True
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            key_mark = mark = spans.seqs[id(node)][1][part]
            node = node[part]
        else:
            break
    if error["type"] == "missing" or node is None:  # an empty value has no place of its own
        return tuple(path), key_mark, False
    return tuple(path), mark, False


def _message(
    error: dict[str, Any], path: tuple[Any, ...], shown_path: str, parent_path: str, at_key: bool
) -> tuple[str, str | None]:
    kind, value, loc = error["type"], error["input"], error["loc"]
    if kind == "extra_forbidden":
        return f"{parent_path}: unknown key `{loc[-1]}`", _did_you_mean(
            str(loc[-1]), _fields_at(path[:-1])
        )
    if at_key and kind == "string_type":
        return f"{shown_path}: a key must be a string, not {_describe(path[-1])}", _QUOTE
    if kind == "missing":
        return f"{shown_path}: missing required key `{loc[-1]}`", None
    if kind == "enum":
        allowed = _enum_values_at(loc) or _enum_values_at(path)
        return (
            f"{shown_path}: {_describe(value)} is not one of: {', '.join(allowed)}",
            _did_you_mean(str(value), allowed),
        )
    if kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == JOB_ID_PATTERN:
        return f"{shown_path}: {_describe(value)} is not a job id (32 lowercase hex digits)", None
    if kind == "string_too_short" or (
        kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == r"\S"
    ):
        return f"{shown_path}: must not be empty or blank", None
    if kind in _TYPE_WORDS and not at_key:
        hint = _QUOTE if kind == "string_type" and isinstance(value, int | float | bool) else None
        return f"{shown_path}: expected {_TYPE_WORDS[kind]}, not {_describe(value)}", hint
    if kind == "value_error" and "error" in error.get("ctx", {}):
        return f"{shown_path}: {error['ctx']['error']}", None  # our own validators' words
    text = str(error["msg"])
    return f"{shown_path}: {text[:1].lower()}{text[1:]}", None


_QUOTE = "quote it to make it a string"


def _did_you_mean(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    if choices and len(choices) <= 15:
        return "expected one of: " + ", ".join(f"`{c}`" for c in choices)
    return None


def _type_at(path: Iterable[Any]) -> Any:
    """The annotation the models give to the value at `path` inside a job, or None."""
    current: Any = JobSpec
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return None
            current = info.annotation
        elif typing.get_origin(current) is list and isinstance(part, int):
            current = typing.get_args(current)[0]
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return None
    return _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    """`X | None` → X, `Annotated[X, …]` → X; a union of several types is left alone."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Union or origin is types.UnionType:
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _fields_at(path: tuple[Any, ...]) -> list[str]:
    model = _type_at(path)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _enum_values_at(path: tuple[Any, ...]) -> list[str]:
    kind = _type_at(path)
    if typing.get_origin(kind) is list:  # delete_propagation given as one string
        kind = _unwrap(typing.get_args(kind)[0])
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return [str(member.value) for member in kind]
    return []


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return _describe(value)


def _describe(value: Any) -> str:
    """A value as the user wrote it, short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return repr(text)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _problem(location: SourceLocation, message: str, hint: str | None = None) -> Problem:
    return Problem(location.file, location.line, location.column, message, hint)


def _shown(path: Path) -> str:
    """`path` as the user would type it: relative to the current directory when inside it."""
    if path.is_absolute():
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)
    return str(path)
