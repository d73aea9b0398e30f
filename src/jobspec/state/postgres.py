"""State in PostgreSQL: one database shared by many runners, with the file store's guarantees.

Owns the state tables and nothing else; `values`, `snapshot` and `journal` own the values,
the record format and the replay rules, which this module reuses so that both stores mean the
same by every record. The only module that imports psycopg.

Chosen by a location that is a libpq URI, `postgresql://…` or `postgres://…`, given as
`--state`, `JOBSPEC_STATE` or `state` in `jobspec.toml`. libpq fills in what the URL leaves out
from the standard `PG*` variables (PGPASSWORD, PGPASSFILE or ~/.pgpass, PGSSLMODE, …), so a
password never needs to be in a file in git. One query parameter is ours and never reaches
libpq: `workspace=NAME` (default `default`), the state namespace, so many states can share
one database. psycopg is imported on first connection only: file users never load it.

Tables, created on first locked use by idempotent DDL (`jobspec_schema` records the version;
a newer version than this jobspec knows is refused, never rewritten):

    jobspec_state    a row per workspace: lineage, serial, the snapshot at that serial (the
                     file store's snapshot document, as jsonb) and the snapshot before it
                     (the file store's .backup)
    jobspec_journal  (workspace, serial) -> record: the file journal's records, one INSERT
                     per write, folded into the snapshot at checkpoints
    jobspec_lock     a row per locked workspace: who holds it (id, holder, host, pid,
                     operation, created_at) and the server backend pid of its session
    jobspec_schema   the schema version

Writes and serials: a write is one INSERT of its record at serial = current + 1, so a step
costs one round trip, not a rewrite. The primary key (workspace, serial) makes a second
writer at the same serial fail rather than merge. A checkpoint (at lock release, and every
`checkpoint_lines` records) is one transaction that replaces the snapshot only if the row's
serial is still the one this session started from (compare-and-swap) and deletes the rows it
folded in. A read is a single statement, so it sees one consistent snapshot without a lock.

The lock, and why it looks like this: the lock row names the holder, for the messages and for
`jobspec unlock`. Liveness is a session-level advisory lock that the holder takes on a key
derived from its own lock id, on the connection it keeps for the whole run. PostgreSQL frees
it when that session ends: the runner exited or was killed (its socket closes), or its machine
vanished (TCP keepalives, set short on this connection, end the session in about a minute).
A runner that finds a lock row probes the holder's key with pg_try_advisory_lock: free means
the holder is gone, so its row is reported as stale and replaced; held means it is alive.
A lease (a heartbeat timestamp) would need a background thread, clocks that agree and a lease
length to tune, and would keep a killed runner's lock for the rest of its lease; the advisory
lock is freed as soon as the server sees the session end. Keying the advisory lock on the lock
id rather than on the workspace is what lets `jobspec unlock` free a holder that is alive but
stuck: deleting its row lets the next runner in at once, without terminating anything, and the
stuck holder's next write is refused, because every write checks in the same statement that
the lock row is still its own (fencing). Every write travels on the holder's own connection,
so a holder whose session has ended cannot write at all.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from jobspec.errors import LockError, MissingExtra, StateError, UsageError, redact_credentials
from jobspec.scrub import Scrubber, shorten
from jobspec.state.journal import dumps_record, replay
from jobspec.state.location import parse_location
from jobspec.state.lockwait import wait_for_lock
from jobspec.state.protocols import StateSession
from jobspec.state.session import DEFAULT_CHECKPOINT_LINES, JournalSession, closing_session
from jobspec.state.snapshot import dumps_state, parse_snapshot
from jobspec.state.values import LockInfo, State, WorkingState, now_iso

if TYPE_CHECKING:
    import psycopg

__all__ = ["SCHEMA_VERSION", "PostgresStateStore"]

SCHEMA_VERSION = 1
# A holder on this host whose process is gone: its session ends in moments; wait that long.
DEAD_HOLDER_GRACE = 5.0
# pg_advisory_xact_lock key serialising schema creation (any constant unlikely to collide).
_SCHEMA_LOCK_KEY = 0x6A6F6273_70656331  # "jobspec1"

_DDL = (
    """CREATE TABLE IF NOT EXISTS jobspec_schema (
        version integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS jobspec_state (
        workspace text PRIMARY KEY,
        lineage text NOT NULL,
        serial bigint NOT NULL CHECK (serial >= 0),
        snapshot jsonb NOT NULL,
        previous jsonb,
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS jobspec_journal (
        workspace text NOT NULL REFERENCES jobspec_state ON DELETE CASCADE,
        serial bigint NOT NULL,
        record jsonb NOT NULL,
        written_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (workspace, serial)
    )""",
    """CREATE TABLE IF NOT EXISTS jobspec_lock (
        workspace text PRIMARY KEY,
        id text NOT NULL,
        holder text NOT NULL,
        host text NOT NULL,
        pid integer NOT NULL,
        operation text NOT NULL,
        created_at text NOT NULL,
        backend_pid integer NOT NULL DEFAULT pg_backend_pid(),
        locked_at timestamptz NOT NULL DEFAULT now()
    )""",
)

# One statement, so one consistent snapshot: the schema version, the snapshot and the journal
# records after it. Fails with UndefinedTable when nothing was ever written to this database.
_READ = """
SELECT (SELECT max(version) FROM jobspec_schema),
       s.serial,
       s.snapshot::text,
       (SELECT coalesce(json_agg(json_build_array(j.serial, j.record) ORDER BY j.serial), '[]')
          FROM jobspec_journal j WHERE j.workspace = s.workspace AND j.serial > s.serial)::text
  FROM (SELECT 1) AS one LEFT JOIN jobspec_state s ON s.workspace = %(workspace)s
"""

_OWN_LOCK = "EXISTS (SELECT 1 FROM jobspec_lock WHERE workspace = %(workspace)s AND id = %(id)s)"

_APPEND = f"""
INSERT INTO jobspec_journal (workspace, serial, record)
SELECT %(workspace)s, %(serial)s, %(record)s::jsonb WHERE {_OWN_LOCK}
"""

_SWAP_SNAPSHOT = f"""
UPDATE jobspec_state
   SET previous = snapshot, snapshot = %(snapshot)s::jsonb, serial = %(serial)s,
       lineage = %(lineage)s, updated_at = now()
 WHERE workspace = %(workspace)s AND serial = %(expected)s AND {_OWN_LOCK}
"""

_CREATE_STATE = f"""
INSERT INTO jobspec_state (workspace, lineage, serial, snapshot)
SELECT %(workspace)s, %(lineage)s, %(serial)s, %(snapshot)s::jsonb WHERE {_OWN_LOCK}
ON CONFLICT (workspace) DO NOTHING
"""

_LOCK_COLUMNS = "id, holder, host, pid, operation, created_at"

# Short TCP keepalives on the lock's session: if the runner's machine vanishes without
# closing its socket, the server ends the session (and frees the lock) within about a minute.
_SESSION_SETUP = """
SELECT set_config('tcp_keepalives_idle', '20', false),
       set_config('tcp_keepalives_interval', '5', false),
       set_config('tcp_keepalives_count', '4', false),
       set_config('tcp_user_timeout', '60000', false),
       pg_advisory_lock(%(key)s)
"""


# --- helpers ----------------------------------------------------------------------------------


def _advisory_key(lock_id: str) -> int:
    """A signed 64-bit advisory-lock key derived from a lock id."""
    digest = uuid.uuid5(uuid.NAMESPACE_OID, f"jobspec-lock:{lock_id}").bytes
    return int.from_bytes(digest[:8], "big", signed=True)


def _message(exc: BaseException, scrub: Scrubber) -> str:
    """A database error as one line, scrubbed of the URL's secrets and any password it quotes.

    libpq's connection errors leave the password out, but its URI parser quotes the URI whole,
    or only the token it could not decode (a password with a bare `%`).
    """
    text = scrub(redact_credentials(" ".join(str(exc).split())))
    return shorten(text, 500) or type(exc).__name__


# --- the store ----------------------------------------------------------------------------------


class PostgresStateStore:
    """State in a PostgreSQL database, one workspace of it; the same protocol as the file store.

    `checkpoint_lines`: fold the journal into the snapshot once it holds this many records.
    """

    def __init__(
        self,
        url: str,
        *,
        checkpoint_lines: int = DEFAULT_CHECKPOINT_LINES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if checkpoint_lines < 1:
            raise ValueError("checkpoint_lines must be at least 1")
        self._where = parse_location(url)
        self._scrub = Scrubber(self._where.secrets)
        self.workspace = self._where.workspace
        self.checkpoint_lines = checkpoint_lines
        self.clock = clock
        self._schema_ready = False

    @property
    def location(self) -> str:
        return self._where.shown

    def __repr__(self) -> str:
        return f"PostgresStateStore({self.location!r})"

    # connections -----------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            import psycopg
            from psycopg.conninfo import conninfo_to_dict
        except ImportError:
            raise MissingExtra(
                extra="postgres", missing=["psycopg"], what="PostgreSQL state"
            ) from None
        try:
            given = conninfo_to_dict(self._where.conninfo)
        except psycopg.ProgrammingError as exc:
            raise UsageError(
                f"malformed state URL {self.location}: {_message(exc, self._scrub)}",
                hint="write it as postgresql://user@host:port/db?workspace=NAME",
            ) from None
        defaults: dict[str, Any] = {}
        if "application_name" not in given and not os.environ.get("PGAPPNAME"):
            defaults["application_name"] = "jobspec"
        if "connect_timeout" not in given and not os.environ.get("PGCONNECT_TIMEOUT"):
            defaults["connect_timeout"] = 10
        try:
            return psycopg.connect(self._where.conninfo, autocommit=True, **defaults)
        except psycopg.Error as exc:
            raise StateError(
                f"cannot connect to the state database {self.location}: "
                + _message(exc, self._scrub),
                hint="check the URL and the PG* variables; a password comes from PGPASSWORD, "
                "PGPASSFILE or ~/.pgpass (or a URL in JOBSPEC_STATE), never from jobspec.toml",
            ) from None

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        conn = self._connect()  # first: it says what to install when psycopg is missing
        import psycopg

        try:
            yield conn
        except psycopg.Error as exc:
            raise self._db_error(exc) from exc
        finally:
            conn.close()

    def _db_error(self, exc: BaseException) -> StateError:
        return StateError(
            f"state database {self.location}: {_message(exc, self._scrub)}",
            hint="nothing was changed by the failed statement; fix the cause and run again",
        )

    def _ensure_schema(self, conn: psycopg.Connection[Any]) -> None:
        """Create the tables if they are missing (idempotent); refuse a newer schema."""
        if self._schema_ready:
            return
        from psycopg.errors import UndefinedTable

        try:
            row = conn.execute("SELECT max(version) FROM jobspec_schema").fetchone()
            version = row[0] if row else None
        except UndefinedTable:
            version = None
        self._check_schema(version)
        if version != SCHEMA_VERSION:
            with conn.transaction():
                # Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalogs.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK_KEY])
                for statement in _DDL:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO jobspec_schema (version) VALUES (%s) ON CONFLICT DO NOTHING",
                    [SCHEMA_VERSION],
                )
        self._schema_ready = True

    def _check_schema(self, version: int | None) -> None:
        if version is not None and version > SCHEMA_VERSION:
            raise StateError(
                f"the state database {self.location} has jobspec schema {version}; this "
                f"jobspec knows {SCHEMA_VERSION}; upgrade jobspec",
                hint="a newer jobspec set up these tables; an older one must not write them",
            )

    # reading ---------------------------------------------------------------------------------

    def read(self) -> State:
        """The current state (snapshot + journal), read in one statement, with no lock."""
        with self._connection() as conn:
            return self._load(conn)[0].freeze()

    def _load(self, conn: psycopg.Connection[Any]) -> tuple[WorkingState, int | None, int]:
        """(state, the snapshot's serial or None if this workspace has none, journal records)."""
        from psycopg.errors import UndefinedTable

        try:
            row = conn.execute(_READ, {"workspace": self.workspace}).fetchone()
        except UndefinedTable:
            return WorkingState(), None, 0
        assert row is not None  # the LEFT JOIN always yields one row
        version, base_serial, snapshot, journal = row
        self._check_schema(version)
        if snapshot is None:
            return WorkingState(), None, 0
        hint = (
            "the previous snapshot is kept in jobspec_state.previous; a DBA can restore it "
            "(and delete this workspace's jobspec_journal rows)"
        )
        working = parse_snapshot(snapshot, source=self.location, hint=hint)
        if working.serial != base_serial:
            raise StateError(
                f"state {self.location}: the snapshot says serial {working.serial} but its row "
                f"says {base_serial}",
                hint=hint,
            )
        records = [(serial, record) for serial, record in json.loads(journal)]
        if records:
            replay(
                working,
                records,
                source=f"{self.location}, jobspec_journal serial",
                hint="a record in jobspec_journal is not what jobspec writes; it was edited, "
                "or written by two runs at once",
            )
        return working, base_serial, len(records)

    # locking ---------------------------------------------------------------------------------

    @contextmanager
    def lock(
        self,
        *,
        timeout: float = 0,
        operation: str,
        on_wait: Callable[[LockInfo], None] | None = None,
    ) -> Iterator[StateSession]:
        """Hold the lock for the block and yield a session on the current state.

        As the file store's: timeout 0 fails at once naming the holder, else polls until
        `timeout` seconds have passed (calling `on_wait(holder)` once); a lock whose holder's
        session has ended is taken over with a line in `session.warnings`; on exit the journal
        is checkpointed and the lock released.
        """
        conn = self._connect()  # first: it says what to install when psycopg is missing
        import psycopg

        info: LockInfo | None = None
        try:
            try:
                self._ensure_schema(conn)
                info, warnings = self._acquire(
                    conn, timeout=timeout, operation=operation, on_wait=on_wait
                )
                session = _PgSession(self, conn, info, warnings)
            except psycopg.Error as exc:
                raise self._db_error(exc) from exc
            with closing_session(session):
                yield session
        finally:
            if info is not None:
                with suppress(psycopg.Error):  # a broken connection: the server ends the session
                    conn.execute(
                        "DELETE FROM jobspec_lock WHERE workspace = %(workspace)s AND id = %(id)s",
                        {"workspace": self.workspace, "id": info.id},
                    )
            conn.close()  # ends the session, which frees its advisory lock

    def _acquire(
        self,
        conn: psycopg.Connection[Any],
        *,
        timeout: float,
        operation: str,
        on_wait: Callable[[LockInfo], None] | None,
    ) -> tuple[LockInfo, list[str]]:
        host = socket.gethostname()
        mine = LockInfo.for_this_process(operation=operation, host=host)
        # Liveness first: the row must never be visible without the advisory lock behind it.
        conn.execute(_SESSION_SETUP, {"key": _advisory_key(mine.id)})
        return wait_for_lock(
            lambda: self._try_acquire(conn, mine),
            timeout=timeout,
            locked_error=self._locked_error,
            holder=lambda busy: busy,
            on_wait=on_wait,
            # a holder gone from this host: its session is ending right now
            grace=lambda busy: DEAD_HOLDER_GRACE if _gone_from_this_host(busy, host) else 0.0,
        )

    def _try_acquire(
        self, conn: psycopg.Connection[Any], mine: LockInfo
    ) -> tuple[LockInfo | None, tuple[LockInfo, list[str]] | None]:
        """One attempt: (holder, None) when held; (None, None) on a race; (None, won) on success."""
        workspace = {"workspace": self.workspace}
        with conn.transaction():
            row = conn.execute(
                f"SELECT {_LOCK_COLUMNS} FROM jobspec_lock WHERE workspace = %(workspace)s "
                "FOR UPDATE",
                workspace,
            ).fetchone()
            warnings: list[str] = []
            if row is not None:
                previous = _lock_info(row)
                key = {"key": _advisory_key(previous.id)}
                probe = conn.execute("SELECT pg_try_advisory_lock(%(key)s)", key).fetchone()
                if not (probe and probe[0]):
                    return previous, None
                conn.execute("SELECT pg_advisory_unlock(%(key)s)", key)
                conn.execute("DELETE FROM jobspec_lock WHERE workspace = %(workspace)s", workspace)
                warnings.append(
                    f"took over a stale lock: its holder {previous.describe()} is gone (its "
                    "database session ended); check the plan for unfinished work"
                )
            won = replace(mine, created_at=now_iso())
            inserted = conn.execute(
                f"INSERT INTO jobspec_lock (workspace, {_LOCK_COLUMNS}) VALUES "
                "(%(workspace)s, %(id)s, %(holder)s, %(host)s, %(pid)s, %(operation)s, "
                "%(created_at)s) ON CONFLICT (workspace) DO NOTHING",
                {**workspace, **won.to_json()},
            )
            if inserted.rowcount != 1:
                return None, None
        return None, (won, warnings)

    def _locked_error(self, busy: LockInfo) -> LockError:
        return LockError(
            f"state {self.location} is locked by {busy.describe()}",
            hint="wait for it (--lock-timeout SECONDS); if it is gone for sure: "
            f"jobspec unlock {busy.id}",
        )

    def lock_info(self) -> LockInfo | None:
        """The holder named in the lock row, if any (it may be stale)."""
        from psycopg.errors import UndefinedTable

        with self._connection() as conn:
            try:
                row = conn.execute(
                    f"SELECT {_LOCK_COLUMNS} FROM jobspec_lock WHERE workspace = %(workspace)s",
                    {"workspace": self.workspace},
                ).fetchone()
            except UndefinedTable:
                return None
        return _lock_info(row) if row else None

    def unlock(self, lock_id: str) -> LockInfo:
        """Break the lock on purpose, if `lock_id` is the lock's id. Returns who held it.

        A live holder's next write is refused (LockError), so it stops writing.
        """
        from psycopg.errors import UndefinedTable

        workspace = {"workspace": self.workspace}
        with self._connection() as conn:
            try:
                gone = conn.execute(
                    f"DELETE FROM jobspec_lock WHERE workspace = %(workspace)s AND id = %(id)s "
                    f"RETURNING {_LOCK_COLUMNS}",
                    {**workspace, "id": lock_id},
                ).fetchone()
                current = None
                if gone is None:
                    current = conn.execute(
                        f"SELECT {_LOCK_COLUMNS} FROM jobspec_lock WHERE workspace = %(workspace)s",
                        workspace,
                    ).fetchone()
            except UndefinedTable:
                gone = current = None
        if gone is not None:
            return _lock_info(gone)
        if current is None:
            raise StateError(f"state {self.location} is not locked")
        info = _lock_info(current)
        raise StateError(
            f"lock id {lock_id} is not the lock on {self.location}: that is {info.id}, "
            f"held by {info.describe()}",
            hint=f"to break it: jobspec unlock {info.id}",
        )


def _lock_info(row: Any) -> LockInfo:
    lock_id, holder, host, pid, operation, created_at = row
    return LockInfo(
        id=lock_id, holder=holder, host=host, pid=pid, operation=operation, created_at=created_at
    )


def _gone_from_this_host(holder: LockInfo, host: str) -> bool:
    """The holder ran here and its process is gone: its database session is about to end."""
    if holder.host != host or holder.pid == os.getpid():
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists, owned by someone else
    return False


# --- the session --------------------------------------------------------------------------------


class _PgSession(JournalSession):
    """The state under the lock. Each write is one INSERT on the holder's connection."""

    @property
    def _where(self) -> str:
        return self._store.location

    def _now(self) -> float:
        return self._store.clock()

    def __init__(
        self,
        store: PostgresStateStore,
        conn: psycopg.Connection[Any],
        info: LockInfo,
        warnings: list[str],
    ) -> None:
        self._store = store
        self._conn = conn
        self._info = info
        self._warnings = warnings
        self._mutex = threading.RLock()
        self._closed = False
        self._cached: State | None = None
        self._working, self._base_serial, self._journal_records = store._load(conn)

    @property
    def lock_info(self) -> LockInfo:
        return self._info

    def checkpoint(self) -> None:
        """Fold the journal into the snapshot: a compare-and-swap on the serial, one transaction."""
        with self._mutex:
            self._require_open()
            if self._journal_records == 0:
                return
            self._swap(self.state)

    def replace(self, state: State) -> None:
        """Make `state` the whole state (lineage, serial, entries, pending intents) at once.

        For `jobspec state push` / `pull`: one transaction replaces the snapshot (the old one
        becomes `previous`) and drops the journal, so readers see the old state or the new.
        """
        if state.lineage is None:
            raise ValueError("replace() needs a state with a lineage")
        with self._mutex:
            self._require_open()
            self._swap(state)
            self._become(state)

    # internals -------------------------------------------------------------------------------

    def _params(self, **values: Any) -> dict[str, Any]:
        return {"workspace": self._store.workspace, "id": self._info.id, **values}

    def _swap(self, state: State) -> None:
        import psycopg

        snapshot = dumps_state(state)
        params = self._params(snapshot=snapshot, serial=state.serial, lineage=state.lineage)
        try:
            with self._conn.transaction():
                if self._base_serial is None:
                    done = self._conn.execute(_CREATE_STATE, params).rowcount
                else:
                    done = self._conn.execute(
                        _SWAP_SNAPSHOT, {**params, "expected": self._base_serial}
                    ).rowcount
                if done != 1:
                    raise self._lost("replacing the snapshot")
                self._conn.execute(
                    "DELETE FROM jobspec_journal WHERE workspace = %(workspace)s", params
                )
        except psycopg.Error as exc:
            raise self._store._db_error(exc) from exc
        self._base_serial = state.serial
        self._journal_records = 0

    def _wrote(self) -> None:
        self._working.serial += 1
        self._cached = None
        self._journal_records += 1
        if self._checkpoint_due(self._journal_records, self._store.checkpoint_lines):
            self.checkpoint()

    def _write(self, record: dict[str, Any]) -> None:
        """Insert one record, committed on return; nothing is written if it fails."""
        import psycopg
        from psycopg.errors import ForeignKeyViolation, UniqueViolation

        text = dumps_record(record)
        params = self._params(serial=record["serial"], record=text)
        try:
            if self._base_serial is not None:
                if self._conn.execute(_APPEND, params).rowcount != 1:
                    raise self._lost("appending to the journal")
            else:
                # The first write to this workspace creates its row, with a new lineage.
                lineage = str(uuid.uuid4())
                empty = dumps_state(State(lineage=lineage, serial=self._working.serial))
                base = {"lineage": lineage, "serial": self._working.serial, "snapshot": empty}
                with self._conn.transaction():
                    if self._conn.execute(_CREATE_STATE, {**params, **base}).rowcount != 1:
                        raise self._lost("creating this workspace's state")
                    if self._conn.execute(_APPEND, params).rowcount != 1:
                        raise self._lost("appending to the journal")
                self._working.lineage = lineage
                self._base_serial = self._working.serial
        except (UniqueViolation, ForeignKeyViolation) as exc:
            raise StateError(
                f"state {self._store.location}: serial {record['serial']} was written by "
                "someone else while this run held the lock; stopped writing",
                hint="another run wrote this state at the same time (was the lock broken?); "
                "plan again",
            ) from exc
        except psycopg.Error as exc:
            raise StateError(
                f"could not write to the state database {self._store.location}: "
                + _message(exc, self._store._scrub),
                hint="this change was not recorded; fix the cause and run apply again",
            ) from exc

    def _lost(self, doing: str) -> StateError:
        """Why a guarded write matched no row: the lock was broken, or the state moved."""
        row = self._conn.execute(
            f"SELECT {_OWN_LOCK}", {"workspace": self._store.workspace, "id": self._info.id}
        ).fetchone()
        if not (row and row[0]):
            return LockError(
                f"the lock on {self._store.location} (id {self._info.id}) was broken while this "
                "run held it; stopped before writing",
                hint="someone ran `jobspec unlock`; another run may own the state now: plan again",
            )
        return StateError(
            f"state {self._store.location} changed under this run's lock while {doing} "
            "(compare-and-swap on the serial failed); stopped writing",
            hint="someone wrote the tables directly; plan again",
        )
