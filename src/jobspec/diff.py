"""Managed-field comparison: which fields named in a spec differ on the live job.

Only the leaves of the desired body are compared (kubectl-style field ownership): fields the
spec does not name never show up as drift. Mappings are walked; every other value, lists
included, is a leaf compared whole. Values are normalised first so that what the server
echoes back in its own shape (a list for `delete_propagation`, a mapping for the
`permissions: add` shorthand) equals what the spec said, and a plan right after an apply is
empty. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

IMMUTABLE_PREFIXES = (("transfer", "source"), ("transfer", "destination"))

Path = tuple[str, ...]
_MISSING: Any = object()


TIME_OF_DAY = ("hr", "min", "sec", "ms")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def normalise(path: Path, value: Any) -> Any:
    """The canonical form of a value at `path`, so equal meanings compare equal.

    `delete_propagation: mirror` is `[mirror]`; `permissions: add` is `{policy: add}`; in a
    schedule, `days: weekends` is `[weekends]`, `start_date: "1735725600"` is the number, and
    `run_at` is the vendor's `{hr, min, sec, ms}` with absent parts 0 (`"02:00"` too).
    """
    if isinstance(value, str):
        if path == ("transfer", "delete_propagation") or path == ("schedule", "days"):
            return [value]
        if path == ("transfer", "permissions"):
            return {"policy": value}
        if path in (("schedule", "start_date"), ("schedule", "end_date")) and value.isdigit():
            return int(value)
        if path == ("schedule", "run_at") and (match := _CLOCK.match(value.strip())):
            hr, minute, sec = match.groups()
            return {"hr": int(hr), "min": int(minute), "sec": int(sec or 0), "ms": 0}
    elif path == ("schedule", "run_at") and isinstance(value, dict):
        return {**dict.fromkeys(TIME_OF_DAY, 0), **value}
    return value


def leaves(body: dict[str, Any], prefix: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every (path, value) leaf of a nested mapping.

    An empty mapping names no field, and deep-merging it changes nothing, so it manages nothing.
    """
    for key, value in body.items():
        path = (*prefix, key)
        value = normalise(path, value)
        if isinstance(value, dict):
            yield from leaves(value, path)
        else:
            yield path, value


def lookup(document: dict[str, Any], path: Path) -> Any:
    """The normalised value at `path`, or `MISSING` when any part of the path is absent."""
    current: Any = document
    for depth, key in enumerate(path):
        if not isinstance(current, dict) or key not in current:
            return _MISSING
        current = normalise(path[: depth + 1], current[key])
    return current


def is_missing(value: Any) -> bool:
    return value is _MISSING


def is_immutable(path: Path) -> bool:
    return any(path[: len(prefix)] == prefix for prefix in IMMUTABLE_PREFIXES)


def differing_leaves(desired: dict[str, Any], live: dict[str, Any]) -> list[tuple[Path, Any, Any]]:
    """(path, live value or MISSING, desired value) for every managed leaf that differs."""
    return [
        (path, current, wanted)
        for path, wanted in leaves(desired)
        if (current := lookup(live, path)) != wanted
    ]


def nest(pairs: list[tuple[Path, Any]]) -> dict[str, Any]:
    """Rebuild a nested mapping from (path, value) pairs: the body of a partial PATCH."""
    body: dict[str, Any] = {}
    for path, value in pairs:
        node = body
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return body


def dotted(path: Path) -> str:
    return ".".join(path)
