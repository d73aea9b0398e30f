"""The state: what jobspec did before, kept whole across crashes and concurrent runs.

One concern a module; dependencies point down this list (a module imports only those below
it), and nothing imports another module's private names:

    opening.py    open_state_store: a path is the file store, a postgresql:// URL the database
    transfer.py   Transfer, transfer_serial, transfer_state: `jobspec state push` / `pull`
    postgres.py   PostgresStateStore: the state tables, advisory-lock liveness (the only
                  module that imports psycopg, and only when it connects)
    filestore.py  FileStateStore: the state file, its journal and backup
    lockfile.py   LockFile: the file store's lock file (flock liveness, the holder's JSON)
    lockwait.py   wait_for_lock: both stores' one way to wait for their lock until a deadline
    oslock.py     the platform's file lock (flock; msvcrt on Windows) and positioned I/O
    session.py    JournalSession (what both stores' sessions share), closing_session
    journal.py    the journal record codec: scan_journal, replay
    snapshot.py   the snapshot codec: dumps_state, loads_state, and the field readers
    protocols.py  StateStore, StateSession, GroupCommit, IntentRef: what the applier and the
                  commands see; both stores implement them and pass one contract suite;
                  Restorable, the optional capability of restoring a backup
    location.py   is_database_url, parse_location, PgLocation: pure URL parsing (settings
                  checks a URL without loading the driver)
    values.py     State, Intent, LockInfo, WorkingState, FORMAT_VERSION, DEFAULT_STATE_PATH

`from jobspec.state import X` works for the public names below. File-system helpers the file
store uses (`atomic_write`, …) live in `jobspec.files`.
"""

from jobspec.state.filestore import SERIAL_EPOCH, FileStateStore, Restored
from jobspec.state.journal import replay, scan_journal
from jobspec.state.location import DEFAULT_WORKSPACE, PgLocation, is_database_url, parse_location
from jobspec.state.opening import open_state_store
from jobspec.state.postgres import SCHEMA_VERSION, PostgresStateStore
from jobspec.state.protocols import (
    GroupCommit,
    IntentRef,
    Restorable,
    StateSession,
    StateStore,
)
from jobspec.state.session import DEFAULT_CHECKPOINT_LINES, JournalSession, closing_session
from jobspec.state.snapshot import dumps_state, loads_state
from jobspec.state.transfer import Transfer, transfer_serial, transfer_state
from jobspec.state.values import (
    DEFAULT_STATE_PATH,
    FORMAT_VERSION,
    Intent,
    LockInfo,
    State,
    WorkingState,
)

__all__ = [
    "DEFAULT_CHECKPOINT_LINES",
    "DEFAULT_STATE_PATH",
    "DEFAULT_WORKSPACE",
    "FORMAT_VERSION",
    "SCHEMA_VERSION",
    "SERIAL_EPOCH",
    "FileStateStore",
    "GroupCommit",
    "Intent",
    "IntentRef",
    "JournalSession",
    "LockInfo",
    "PgLocation",
    "PostgresStateStore",
    "Restorable",
    "Restored",
    "State",
    "StateSession",
    "StateStore",
    "Transfer",
    "WorkingState",
    "closing_session",
    "dumps_state",
    "is_database_url",
    "loads_state",
    "open_state_store",
    "parse_location",
    "replay",
    "scan_journal",
    "transfer_serial",
    "transfer_state",
]
