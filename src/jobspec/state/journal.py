"""The journal codec: the records a write appends, reading them back, and replaying them.

Every write to the state (intent, done, abandon, put, remove, move, server) is one record
carrying its serial; replay insists on serials without gaps, so records written by two
processes at once are detected, not merged. The file store keeps records as JSON lines after
a header; the PostgreSQL store keeps one row each (its transactions are its durability). Both
replay them here, so a record means the same in either store. No I/O here.

Journal lines, version 2 (what a sync made durable). With group commit several lines sit
unsynced at the end of the file, and a power loss may leave any of them whole, cut, zeroed
or garbage, not only a torn last line. So each line carries
- `"c"`, a CRC-32 of the line's JSON before it (the line is `{…,"c":"1a2b3c4d"}`): a line
  whose checksum fails was never completely written;
- `"d"`, the serial through which the writer knew the journal to be on disk when it wrote
  the line (a commit marker riding on every record: what the last finished sync covered).
Reading keeps the records up to the first bad line. If any intact line anywhere claims a
serial at or past the bad one as durable, a sync had made that record durable and it was
damaged afterwards: that is refused. Otherwise the bad line and everything after it were
never synced (the applier sends no call before its intent is synced), so they are dropped
and the reader is told how many bytes (`Journal.dropped`). Damage after the last claim cannot
be told from an unsynced tail; that is the same line SQLite's WAL draws at its last commit.

Version 1 journals (jobspec 0.1: no `"c"`, no `"d"`, header without `"journal"`) read as they
always did: a torn last line is ignored, a bad line anywhere else is refused. A session that
finds one folds it into the snapshot before appending, so versions never mix in one file.
"""

from __future__ import annotations

import json
import re
import zlib
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

__all__ = [
    "JOURNAL_VERSION",
    "Journal",
    "dumps_header",
    "dumps_line",
    "dumps_record",
    "replay",
    "scan_journal",
]

JOURNAL_VERSION = 2
"""Journal lines carry a checksum and a durable mark (see the module docstring)."""

_SEAL = re.compile(rb',"c":"([0-9a-f]{8})"\}$')


def dumps_header(*, lineage: str, base_serial: int) -> str:
    """A journal file's first line: its lineage and the serial its records continue from."""
    header = {
        "kind": "header",
        "format_version": FORMAT_VERSION,
        "journal": JOURNAL_VERSION,
        "lineage": lineage,
        "base_serial": base_serial,
    }
    return _sealed(json.dumps(header, separators=(",", ":"))) + "\n"


def dumps_record(record: dict[str, Any]) -> str:
    """One record as compact JSON text (no newline); strict JSON, no NaN."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps_line(record: dict[str, Any], *, durable: int) -> str:
    """One journal line (newline included): the record, its durable mark and its checksum.

    `durable` is the serial through which the writer knows the journal is on disk now.
    """
    return _sealed(dumps_record({**record, "d": durable})) + "\n"


def _sealed(text: str) -> str:
    crc = zlib.crc32(text.encode())
    return f'{text[:-1]},"c":"{crc:08x}"}}'


def _unseal(raw: bytes) -> dict[str, Any] | None:
    """The record of a sealed line, or None when the line is not whole (checksum, JSON)."""
    match = _SEAL.search(raw)
    if match is None:
        return None
    body = raw[: match.start()] + b"}"
    if f"{zlib.crc32(body):08x}".encode() != match.group(1):
        return None
    try:
        record = json.loads(body)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


@dataclass
class Journal:
    """A journal file as read: its header, its committed records and where they end."""

    lineage: str
    base_serial: int
    records: list[tuple[int, dict[str, Any]]]  # (line number, record) after the header
    good_size: int  # bytes up to the end of the last committed line
    torn: bool  # a torn last line (or, version 2, an unsynced tail) follows good_size
    version: int = 1
    dropped: int = 0  # bytes of unsynced tail after good_size (version 2)


def scan_journal(data: bytes, *, source: str, hint: str) -> Journal | None:
    """Split a journal into committed records. None when it holds no complete header."""
    first = data.partition(b"\n")[0]
    if _unseal(first) is not None or not _is_json(first):
        return _scan_sealed(data, source=source, hint=hint)
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


def _scan_sealed(data: bytes, *, source: str, hint: str) -> Journal | None:
    """Version 2: keep the records before the first bad line, unless a sync covered it."""
    lines = data.split(b"\n")
    lines.pop()  # b"" when the file ends with a newline, else a line without its newline
    header = _unseal(lines[0]) if lines else None
    records: list[tuple[int, dict[str, Any]]] = []
    good_size = len(lines[0]) + 1 if header is not None else 0
    first_bad: int | None = None if header is not None else 1  # line number
    claimed = -1  # the highest serial any intact line says was durable
    for index, raw in enumerate(lines[1:], start=2):
        record = _unseal(raw)
        if record is None:
            first_bad = first_bad or index
            continue
        durable = record.pop("d", None)
        if type(durable) is int:
            claimed = max(claimed, durable)
        if first_bad is None:
            records.append((index, record))
            good_size += len(raw) + 1

    def invalid(what: str, line: int = 1) -> StateError:
        return StateError(f"journal {source}:{line}: {what}", hint=hint)

    if header is None:
        # The header is synced (with its directory entry) before any record is written.
        if claimed >= 0 or any(_is_json(raw) for raw in lines[1:]):
            raise invalid("the journal header is damaged, yet records follow it")
        return None
    if header.get("journal") != JOURNAL_VERSION:
        raise invalid(f"unknown journal version {header.get('journal')!r}; upgrade jobspec")
    check_format_version(header.get("format_version"), source=source, invalid=invalid)
    base = parse_serial(header.get("base_serial"), name="base_serial", invalid=invalid)
    if first_bad is not None and claimed >= base + first_bad - 1:
        raise invalid(
            f"damaged record (serial {base + first_bad - 1}) that a sync had made durable "
            f"(a later record says serials up to {claimed} were on disk): the disk or someone "
            "changed the file after it was written",
            first_bad,
        )
    return Journal(
        lineage=parse_lineage(header.get("lineage"), invalid=invalid),
        base_serial=base,
        records=records,
        good_size=good_size,
        torn=good_size < len(data),
        version=JOURNAL_VERSION,
        dropped=len(data) - good_size,
    )


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


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
