"""Where the emulator keeps jobs: in memory, optionally written through to a SQLite file.

Every call is synchronous, and the app calls it without awaiting between reading a job and
writing it back: on one event loop that makes each request's read-modify-write atomic, which
is all the concurrency control the emulator needs.

Each job is kept both as a dict (for filters and merges) and as its JSON text without `links`
(for replies), so a page of 1000 jobs is a string join rather than 1000 `json.dumps` calls.
Stored dicts are never changed in place: a write replaces the whole entry.

Lists are paged: the live jobs are also kept as two sorted indexes, by id and by creation,
so that a page of the usual listings (no filter, in id or creation order) is a slice, O(page)
per request, not a scan and a sort of every job. A write moves at most one index entry.

With a data file, jobs are loaded once at start and every write is committed before the call
returns; one server per file (another process writing the same file is not noticed).
"""

from __future__ import annotations

import bisect
import itertools
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RawJob = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    id      TEXT    NOT NULL UNIQUE,
    body    TEXT    NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
)
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class StoredJob:
    """One job as stored: the dict (without `links`), its JSON text, and the soft-delete flag."""

    job: RawJob
    text: str
    deleted: bool = False

    @property
    def id(self) -> str:
        return str(self.job["id"])

    @classmethod
    def of(cls, job: RawJob, *, deleted: bool = False) -> StoredJob:
        clean = {key: value for key, value in job.items() if key != "links"}
        return cls(job=clean, text=_dumps(clean), deleted=deleted)

    def json_with_self_link(self, href: str) -> str:
        """The job's JSON with `links.self.href` added, built by string splicing."""
        return f'{self.text[:-1]},"links":{{"self":{{"href":{_dumps(href)}}}}}}}'


class _Index:
    """Sorted keys with the live jobs' ids: a page is a slice; an add or a removal is a bisect
    and one list insert or delete (a memmove, however many jobs there are)."""

    def __init__(self) -> None:
        self._keys: list[Any] = []

    def add(self, key: Any) -> None:
        bisect.insort(self._keys, key)

    def add_many(self, keys: list[Any]) -> None:
        if len(keys) < 16:
            for key in keys:
                self.add(key)
        else:  # a seed: one sort of the whole, not a shift per key
            self._keys.extend(keys)
            self._keys.sort()

    def remove(self, key: Any) -> None:
        at = bisect.bisect_left(self._keys, key)
        if at < len(self._keys) and self._keys[at] == key:
            del self._keys[at]

    def clear(self) -> None:
        self._keys.clear()

    def __len__(self) -> int:
        return len(self._keys)

    def slice(self, offset: int, limit: int, *, descending: bool = False) -> list[Any]:
        if not descending:
            return self._keys[offset : offset + limit]
        end = len(self._keys) - offset
        return self._keys[max(0, end - limit) : max(0, end)][::-1]


class JobStore:
    """Jobs by id in creation order; soft-deleted jobs are kept but hidden from `live()`."""

    def __init__(self, data_path: Path | None = None) -> None:
        self._jobs: dict[str, StoredJob] = {}
        self._seq: dict[str, int] = {}  # creation order of every job, deleted ones included
        self._counter = itertools.count()
        self._by_id = _Index()  # live job ids
        self._by_creation = _Index()  # (seq, id) of live jobs
        self._db: sqlite3.Connection | None = None
        if data_path is not None:
            # The app runs on one event loop thread, which may not be the thread that opened it.
            self._db = sqlite3.connect(data_path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
            rows = self._db.execute("SELECT body, deleted FROM jobs ORDER BY seq")
            for body, deleted in rows:
                stored = StoredJob(job=json.loads(body), text=body, deleted=bool(deleted))
                self._jobs[stored.id] = stored
                self._indexed(stored)

    @property
    def persistent(self) -> bool:
        return self._db is not None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __len__(self) -> int:
        return len(self._jobs)

    def get(self, job_id: str, *, include_deleted: bool = False) -> StoredJob | None:
        stored = self._jobs.get(job_id)
        if stored is None or (stored.deleted and not include_deleted):
            return None
        return stored

    def exists(self, job_id: str) -> bool:
        """True for any id ever stored, deleted or not: ids are never reused."""
        return job_id in self._jobs

    def live(self) -> Iterator[StoredJob]:
        """Jobs not deleted, in creation order."""
        return (stored for stored in self._jobs.values() if not stored.deleted)

    def live_count(self) -> int:
        return len(self._by_id)

    def live_page(
        self, offset: int, limit: int, *, order: str = "creation", descending: bool = False
    ) -> list[StoredJob]:
        """A page of the live jobs in id or creation order, read from an index: O(page)."""
        if order == "id":
            ids = self._by_id.slice(offset, limit, descending=descending)
        else:
            ids = [key[1] for key in self._by_creation.slice(offset, limit, descending=descending)]
        return [self._jobs[job_id] for job_id in ids]

    def everything(self) -> Iterator[StoredJob]:
        """All jobs, deleted included, in creation order."""
        return iter(self._jobs.values())

    def add(self, job: RawJob) -> StoredJob:
        """Store a new job; its id must not exist yet."""
        return self.add_many([job])[0]

    def add_many(self, jobs: Iterable[RawJob]) -> list[StoredJob]:
        """Store new jobs in one transaction; ids must be new and distinct."""
        entries = [StoredJob.of(job) for job in jobs]
        for stored in entries:
            if stored.id in self._jobs:
                raise KeyError(stored.id)
        if self._db is not None:
            with self._transaction() as db:
                db.executemany(
                    "INSERT INTO jobs (id, body, deleted) VALUES (?, ?, 0)",
                    [(stored.id, stored.text) for stored in entries],
                )
        for stored in entries:
            self._jobs[stored.id] = stored
            self._seq[stored.id] = next(self._counter)
        self._by_id.add_many([stored.id for stored in entries])
        self._by_creation.add_many([(self._seq[stored.id], stored.id) for stored in entries])
        return entries

    def replace(self, job: RawJob) -> StoredJob:
        """Overwrite an existing job with a new version."""
        stored = StoredJob.of(job, deleted=self._jobs[job["id"]].deleted)
        self._write(stored)
        return stored

    def delete(self, job_id: str) -> bool:
        """Soft-delete; False when there is no live job with this id."""
        stored = self.get(job_id)
        if stored is None:
            return False
        self._write(StoredJob(job=stored.job, text=stored.text, deleted=True))
        self._by_id.remove(job_id)
        self._by_creation.remove((self._seq[job_id], job_id))
        return True

    def clear(self) -> None:
        if self._db is not None:
            with self._transaction() as db:
                db.execute("DELETE FROM jobs")
        self._jobs.clear()
        self._seq.clear()
        self._by_id.clear()
        self._by_creation.clear()

    def _indexed(self, stored: StoredJob) -> None:
        seq = self._seq[stored.id] = next(self._counter)
        if not stored.deleted:
            self._by_id.add(stored.id)
            self._by_creation.add((seq, stored.id))

    def _write(self, stored: StoredJob) -> None:
        if self._db is not None:
            with self._transaction() as db:
                db.execute(
                    "UPDATE jobs SET body = ?, deleted = ? WHERE id = ?",
                    (stored.text, int(stored.deleted), stored.id),
                )
        self._jobs[stored.id] = stored

    def _transaction(self) -> _Transaction:
        assert self._db is not None
        return _Transaction(self._db)


class _Transaction:
    """BEGIN … COMMIT, or ROLLBACK when the block raises (autocommit connection)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN")
        return self._db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
