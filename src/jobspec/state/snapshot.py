"""The snapshot codec: the whole state as one JSON document, and the checks that read it.

Both stores keep the same document (the file store as the state file, the PostgreSQL store as
a jsonb column), so the field readers here (`parse_lineage`, `parse_intent`, …) are shared with
the journal codec: a record means the same wherever it is stored. Every problem is a
`StateError` naming where the text came from. No I/O here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from jobspec.errors import StateError
from jobspec.model import StateEntry
from jobspec.state.values import FORMAT_VERSION, Intent, State, WorkingState

__all__ = [
    "check_format_version",
    "dumps_state",
    "loads_state",
    "parse_entry",
    "parse_intent",
    "parse_lineage",
    "parse_serial",
    "parse_server",
    "parse_snapshot",
]

Invalid = Callable[[str], StateError]
"""Makes the error for one problem, with the caller's source and hint."""

_SNAPSHOT_KEYS = ("format_version", "lineage", "serial", "entries", "pending_intents")
_INTENT_KEYS = ("intent_id", "address", "op", "started_at", "details")


def dumps_state(state: State) -> str:
    """The snapshot text: fixed top-level order, sorted keys below, indent 2, final newline."""
    document: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "lineage": state.lineage,
        "serial": state.serial,
    }
    if state.server is not None:  # written once known, so older states keep their form
        document["server"] = state.server
    document |= {
        "entries": {
            address: state.entries[address].model_dump(mode="json")
            for address in sorted(state.entries)
        },
        "pending_intents": [intent.to_json() for intent in state.pending],
    }
    return json.dumps(_sorted_below_top(document), indent=2, ensure_ascii=False) + "\n"


def loads_state(text: str, *, source: str = "<state>") -> State:
    """Parse a snapshot; every problem is a `StateError` naming `source`."""
    return parse_snapshot(text, source=source, hint=None).freeze()


def _sorted_below_top(document: dict[str, Any]) -> dict[str, Any]:
    return {key: _sorted(value) for key, value in document.items()}


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def parse_snapshot(text: str, *, source: str, hint: str | None) -> WorkingState:
    """Parse a snapshot into a working state (for a session or a replay to continue from)."""
    try:
        document = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise StateError(
            f"state file {source} is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}",
            hint=hint,
        ) from exc
    except _DuplicateKey as exc:  # an address twice: which entry would win is a guess
        raise StateError(f"state file {source}: key `{exc.key}` appears twice", hint=hint) from None

    def invalid(what: str) -> StateError:
        return StateError(f"state file {source}: {what}", hint=hint)

    if not isinstance(document, dict):
        raise invalid("expected a JSON object at the top")
    version = document.get("format_version")
    check_format_version(version, source=source, invalid=invalid)
    for key in _SNAPSHOT_KEYS:
        if key not in document:
            raise invalid(f"missing field `{key}`")
    unknown = sorted(set(document) - set(_SNAPSHOT_KEYS) - {"server"})
    if unknown:
        raise invalid(f"unknown field `{unknown[0]}`")

    working = WorkingState(
        lineage=parse_lineage(document["lineage"], invalid=invalid),
        serial=parse_serial(document["serial"], name="serial", invalid=invalid),
        server=parse_server(document.get("server"), invalid=invalid),
    )
    entries = document["entries"]
    if not isinstance(entries, dict):
        raise invalid("`entries` must be an object keyed by address")
    for address, raw_entry in entries.items():
        working.entries[address] = parse_entry(
            raw_entry, where=f"entry `{address}`", invalid=invalid
        )
    intents = document["pending_intents"]
    if not isinstance(intents, list):
        raise invalid("`pending_intents` must be a list")
    for index, raw_intent in enumerate(intents):
        intent = parse_intent(raw_intent, where=f"pending_intents[{index}]", invalid=invalid)
        if intent.intent_id in working.pending:
            raise invalid(f"pending intent {intent.intent_id} appears twice")
        working.pending[intent.intent_id] = intent
    return working


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateKey(key)
        document[key] = value
    return document


def check_format_version(version: Any, *, source: str, invalid: Invalid) -> None:
    """Refuse a malformed format version, and one newer than this jobspec writes."""
    if type(version) is not int or version < 1:
        raise invalid(f"`format_version` must be a positive integer, not {version!r}")
    if version > FORMAT_VERSION:
        raise StateError(
            f"state format {version} in {source} is newer than this jobspec "
            f"({FORMAT_VERSION}); upgrade jobspec",
            hint="a newer jobspec wrote this state; an older one must not rewrite it",
        )


def parse_lineage(value: Any, *, invalid: Invalid) -> str:
    try:
        if not isinstance(value, str):
            raise ValueError
        uuid.UUID(value)
    except ValueError:
        raise invalid(f"`lineage` must be a UUID string, not {value!r}") from None
    return value


def parse_server(value: Any, *, invalid: Invalid) -> str | None:
    if value is not None and (not isinstance(value, str) or "://" not in value):
        raise invalid(f"`server` must be a server address string, not {value!r}")
    return value


def parse_serial(value: Any, *, name: str, invalid: Invalid) -> int:
    if type(value) is not int or value < 0:
        raise invalid(f"`{name}` must be a non-negative integer, not {value!r}")
    return value


def parse_entry(raw: Any, *, where: str, invalid: Invalid) -> StateEntry:
    try:
        return StateEntry.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"]) or "(entry)"
        raise invalid(f"{where}: `{loc}`: {first['msg']}") from None


def parse_intent(raw: Any, *, where: str, invalid: Invalid) -> Intent:
    if not isinstance(raw, dict):
        raise invalid(f"{where}: expected an object")
    for key in _INTENT_KEYS:
        if key not in raw:
            raise invalid(f"{where}: missing field `{key}`")
    texts = {key: raw[key] for key in ("intent_id", "address", "op")}
    for key, value in texts.items():
        if not isinstance(value, str) or not value:
            raise invalid(f"{where}: `{key}` must be a non-empty string")
    started_at, details = raw["started_at"], raw["details"]
    if type(started_at) not in (int, float):
        raise invalid(f"{where}: `started_at` must be a number (epoch seconds)")
    if not isinstance(details, dict):
        raise invalid(f"{where}: `details` must be an object")
    if details.get("target") is not None and not isinstance(details["target"], str):
        raise invalid(f"{where}: `details.target` must be a job id string or null")
    return Intent(
        intent_id=texts["intent_id"],
        address=texts["address"],
        op=texts["op"],
        details=details,
        started_at=float(started_at),
    )
