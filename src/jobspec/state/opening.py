"""Choosing a state store from a location: a path is the file store, a URL PostgreSQL.

A location is a path (`filestore`) or a `postgresql://` / `postgres://` URL (`postgres`, which
loads psycopg only when it connects), as given by `--state`, `JOBSPEC_STATE` or `state` in
`jobspec.toml`.
"""

from __future__ import annotations

import os
from pathlib import Path

from jobspec.state.filestore import FileStateStore
from jobspec.state.location import is_database_url
from jobspec.state.postgres import PostgresStateStore
from jobspec.state.protocols import StateStore

__all__ = ["open_state_store"]


def open_state_store(location: str | os.PathLike[str]) -> StateStore:
    """The store for `location`: PostgreSQL for a postgresql:// URL, else the state file."""
    if isinstance(location, str) and is_database_url(location):
        return PostgresStateStore(location)
    return FileStateStore(Path(location))
