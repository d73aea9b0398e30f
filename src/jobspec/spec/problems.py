"""Problems in the words of a spec's author: pydantic's errors placed back at the line and
column where the value was written, with a "did you mean" where one is close."""

from __future__ import annotations

import difflib
import enum
import re
import types
import typing
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from jobspec.errors import Problem
from jobspec.model import ADDRESS_RE, JOB_ID_PATTERN, JobSpec, SourceLocation

if TYPE_CHECKING:
    from jobspec.spec.events import Spans


def address_hint(address: Any) -> str | None:
    """A valid address close to an invalid one, as a hint."""
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


def explain(
    exc: ValidationError, raw: Any, prefix: tuple[Any, ...], marks: tuple[Any, Any], spans: Spans
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
            yield mark, f"{shown_path}: expected {wanted}, not {describe(first['input'])}", None
            continue
        parent_path = ".".join(str(p) for p in (*prefix, *path[:-1]))
        for error, mark, at_key in errors:
            yield (mark, *_message(error, path, shown_path, parent_path, at_key))


def _locate(
    raw: Any, marks: tuple[Any, Any], error: Any, spans: Spans
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
        return f"{parent_path}: unknown key `{loc[-1]}`", did_you_mean(
            str(loc[-1]), _fields_at(path[:-1])
        )
    if at_key and kind == "string_type":
        return f"{shown_path}: a key must be a string, not {describe(path[-1])}", QUOTE
    if kind == "missing":
        return f"{shown_path}: missing required key `{loc[-1]}`", None
    if kind == "enum":
        allowed = _enum_values_at(loc) or _enum_values_at(path)
        return (
            f"{shown_path}: {describe(value)} is not one of: {', '.join(allowed)}",
            did_you_mean(str(value), allowed),
        )
    if kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == JOB_ID_PATTERN:
        return f"{shown_path}: {describe(value)} is not a job id (32 lowercase hex digits)", None
    if kind == "string_too_short" or (
        kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == r"\S"
    ):
        return f"{shown_path}: must not be empty or blank", None
    if kind in _TYPE_WORDS and not at_key:
        hint = QUOTE if kind == "string_type" and isinstance(value, int | float | bool) else None
        return f"{shown_path}: expected {_TYPE_WORDS[kind]}, not {describe(value)}", hint
    if kind == "value_error" and "error" in error.get("ctx", {}):
        return f"{shown_path}: {error['ctx']['error']}", None  # our own validators' words
    text = str(error["msg"])
    return f"{shown_path}: {text[:1].lower()}{text[1:]}", None


QUOTE = "quote it to make it a string"


def did_you_mean(word: str, choices: list[str]) -> str | None:
    """A hint naming the closest choice, or all of a few, or nothing."""
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


def kind_of(value: Any) -> str:
    """What a value is, for "expected a mapping, not …": a mapping, a list, or the value."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return describe(value)


def describe(value: Any) -> str:
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


def problem_at(location: SourceLocation, message: str, hint: str | None = None) -> Problem:
    """A problem at the place a job was written."""
    return Problem(location.file, location.line, location.column, message, hint)


def display_path(path: Path) -> str:
    """`path` as the user would type it: relative to the current directory when inside it."""
    if path.is_absolute():
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)
    return str(path)
