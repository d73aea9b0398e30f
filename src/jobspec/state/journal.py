"""The journal codec: the records a write appends, reading them back, and replaying them.

Every write to the state (intent, done, abandon, put, remove, move, server) is one record
carrying its serial; replay insists on serials without gaps, so records written by two
processes at once are detected, not merged. The file store keeps records as JSON lines after
a header (torn last line tolerated: the newline is the commit point); the PostgreSQL store
keeps one row each. Both replay them here, so a record means the same in either store.
No I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jobspec.errors import StateError
from jobspec.state.snapshot import (
    Invalid,
    check_format_version,
    parse_entry,
    parse_intent,
    parse_lineage,
    parse_serial,
    parse_server,
)
from jobspec.state.values import FORMAT_VERSION, WorkingState

__all__ = ["Journal", "dumps_header", "dumps_record", "replay", "scan_journal"]


def dumps_header(*, lineage: str, base_serial: int) -> str:
    """A journal file's first line: its lineage and the serial its records continue from."""
    header = {
        "kind": "header",
        "format_version": FORMAT_VERSION,
        "lineage": lineage,
        "base_serial": base_serial,
    }
    return json.dumps(header, separators=(",", ":")) + "\n"


def dumps_record(record: dict[str, Any]) -> str:
    """One record as compact JSON text (no newline); strict JSON, no NaN."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@dataclass
class Journal:
    """A journal file as read: its header, its committed records and where they end."""

    lineage: str
    base_serial: int
    records: list[tuple[int, dict[str, Any]]]  # (line number, record) after the header
    good_size: int  # bytes up to the end of the last committed line
    torn: bool  # a torn last line follows good_size


def scan_journal(data: bytes, *, source: str, hint: str) -> Journal | None:
    """Split a journal into committed records. None when it holds no complete header."""
    pieces = data.split(b"\n")
    tail = pieces.pop()  # b"" when the file ends with a newline
    lines: list[tuple[bytes, bool]] = [(piece, True) for piece in pieces]
    if tail:
        lines.append((tail, False))
    parsed: list[tuple[int, dict[str, Any]]] = []
    good_size = offset = 0
    torn = False
    for index, (raw, terminated) in enumerate(lines):
        lineno = index + 1
        offset += len(raw) + (1 if terminated else 0)
        is_last = index == len(lines) - 1
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            if is_last:
                torn = True
                break
            raise StateError(
                f"journal {source}:{lineno}: corrupt line in the middle of the journal ({exc})",
                hint=hint,
            ) from None
        if not terminated:
            torn = True  # the newline is the commit point; without it the record never was
            break
        parsed.append((lineno, record))
        good_size = offset
    if not parsed:
        return None
    (header_line, header), records = parsed[0], parsed[1:]

    def invalid(what: str) -> StateError:
        return StateError(f"journal {source}:{header_line}: {what}", hint=hint)

    if header.get("kind") != "header":
        raise invalid("the first line must be the journal header")
    check_format_version(header.get("format_version"), source=source, invalid=invalid)
    return Journal(
        lineage=parse_lineage(header.get("lineage"), invalid=invalid),
        base_serial=parse_serial(header.get("base_serial"), name="base_serial", invalid=invalid),
        records=records,
        good_size=good_size,
        torn=torn,
    )


def replay(
    working: WorkingState,
    records: Iterable[tuple[int, dict[str, Any]]],
    *,
    source: str,
    hint: str,
) -> None:
    """Apply `records` ((where, record) pairs: a line number, a serial) to `working` in order."""
    for lineno, record in records:

        def invalid(what: str, lineno: int = lineno) -> StateError:
            return StateError(f"journal {source}:{lineno}: {what}", hint=hint)

        if record.get("serial") != working.serial + 1:
            raise invalid(
                f"serial {record.get('serial')!r} does not follow {working.serial} "
                "(written by two processes at once, or edited)"
            )
        kind = record.get("kind")
        if kind == "intent":
            intent = parse_intent(record, where="intent", invalid=invalid)
            if intent.intent_id in working.pending:
                raise invalid(f"intent {intent.intent_id} recorded twice")
            working.pending[intent.intent_id] = intent
        elif kind in ("done", "abandon"):
            intent_id = record.get("intent_id")
            if not isinstance(intent_id, str) or working.pending.pop(intent_id, None) is None:
                raise invalid(f"`{kind}` for intent {intent_id!r}, which is not pending")
            change = record.get("change") if kind == "done" else None
            if change is not None:
                if not isinstance(change, dict) or ("put" in change) == ("remove" in change):
                    raise invalid(
                        '`change` must be {"put": ADDRESS, "entry": …} or {"remove": ADDRESS}'
                    )
                if "put" in change:
                    _apply(working, "put", change["put"], change.get("entry"), invalid=invalid)
                else:
                    _apply(working, "remove", change["remove"], None, invalid=invalid)
        elif kind in ("put", "remove"):
            _apply(working, kind, record.get("address"), record.get("entry"), invalid=invalid)
        elif kind == "server":
            working.server = parse_server(record.get("server"), invalid=invalid)
        elif kind == "move":
            old, new = record.get("address"), record.get("to")
            if not isinstance(new, str) or old not in working.entries or new in working.entries:
                raise invalid(f"`move` from {old!r} to {new!r}: not an entry, or taken")
            working.entries[new] = working.entries.pop(old)
        else:
            raise invalid(f"unknown record kind {kind!r}")
        working.serial += 1


def _apply(
    working: WorkingState, op: str, address: Any, raw_entry: Any, *, invalid: Invalid
) -> None:
    if not isinstance(address, str):
        raise invalid(f"`{op}` must name its address")
    if op == "remove":
        working.entries.pop(address, None)
    else:
        working.entries[address] = parse_entry(
            raw_entry, where=f"entry `{address}`", invalid=invalid
        )
