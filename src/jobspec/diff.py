"""Managed-field comparison: which fields named in a spec differ on the live job.

Only the leaves of the desired body are compared (kubectl-style field ownership): fields the
spec does not name never show up as drift. Mappings are walked; every other value, lists
included, is a leaf compared whole. Values are normalised first so that what the server
echoes back in its own shape (a list for `delete_propagation`, a mapping for the
`permissions: add` shorthand) equals what the spec said, and a plan right after an apply is
empty. Pure functions, no I/O.

Equality has a fast path (`==`, with `true` never equal to `1`); only when that fails does
deepdiff (the one module importing it, lazily: it costs ~0.1 s to import) decide for set-like
fields (`SET_LIKE`: order does not matter, so `[ignore_source, ignore_destination]` read back
in another order is no change), and describe what changed (`describe`: items added and
removed, a change of type) for plans and drift.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from jobspec.naming import name_key

IMMUTABLE_PREFIXES = (("transfer", "source"), ("transfer", "destination"))
SET_LIKE = frozenset({("transfer", "delete_propagation"), ("schedule", "days")})
"""Lists whose order (and repeats) mean nothing: compared as sets."""

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
    if path not in _NORMALISED:  # the fast path: most fields are compared as they are
        return value
    if isinstance(value, str):
        if path == ("name",):
            return name_key(value)  # names are compared in one normal form (naming.py)
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


_NORMALISED = frozenset(
    {
        ("name",),
        ("transfer", "delete_propagation"),
        ("transfer", "permissions"),
        ("schedule", "days"),
        ("schedule", "start_date"),
        ("schedule", "end_date"),
        ("schedule", "run_at"),
    }
)
"""Every path `normalise` changes a value at."""
_DEEPEST = max(len(path) for path in _NORMALISED)


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
        current = current[key]
        if depth < _DEEPEST:
            current = normalise(path[: depth + 1], current)
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
        if not same(path, current := lookup(live, path), wanted)
    ]


def same(path: Path, current: Any, wanted: Any) -> bool:
    """Do these two values of the field at `path` mean the same?"""
    if current == wanted:  # the fast path, taken by nearly every field of a settled plan
        return isinstance(current, bool) is isinstance(wanted, bool)
    if path in SET_LIKE and isinstance(current, list) and isinstance(wanted, list):
        return not _deepdiff(current, wanted, ignore_order=True)
    return False


def describe(path: Path, before: Any, after: Any) -> str | None:
    """What changed inside a value, when `before → after` alone does not say it at a glance:
    list items added and removed, or a change of type. None otherwise (and for no change)."""
    if isinstance(before, list) and isinstance(after, list):
        found = _deepdiff(before, after, ignore_order=True, view="tree")
        if not found:  # the same items: only their order moved (no change at all if set-like)
            return None if path in SET_LIKE else "reordered"
        added = [item.t2 for item in found.get("iterable_item_added", [])]
        removed = [item.t1 for item in found.get("iterable_item_removed", [])]
        for item in found.get("values_changed", []):  # an item replaced by another
            if len(item.path(output_format="list")) == 1:
                removed.append(item.t1)
                added.append(item.t2)
        parts = []
        if added:
            parts.append("added " + ", ".join(_short(item) for item in added))
        if removed:
            parts.append("removed " + ", ".join(_short(item) for item in removed))
        return "; ".join(parts) or "items changed"
    if before is None or is_missing(before) or after is None:
        return None
    if type(before) is not type(after):
        return f"type {_json_type(before)} → {_json_type(after)}"
    return None


def _deepdiff(before: Any, after: Any, **options: Any) -> Any:
    from deepdiff import DeepDiff  # lazily: most plans never get here

    return DeepDiff(before, after, **options)


def _short(item: Any) -> str:
    return item if isinstance(item, str) else repr(item)


def _json_type(value: Any) -> str:
    for kind, name in ((bool, "boolean"), (int, "number"), (float, "number"), (str, "string")):
        if isinstance(value, kind):
            return name
    return "list" if isinstance(value, list) else "object" if isinstance(value, dict) else "null"


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
