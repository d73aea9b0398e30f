"""Reaching into the test database: what the store wrote, and writes it must notice."""

from __future__ import annotations

from typing import Any

import psycopg

from jobspec.state import parse_location


def execute(url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run one statement (autocommit) on the database of a state URL; rows if it returns any."""
    where = parse_location(url)
    with psycopg.connect(where.conninfo, autocommit=True) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def journal_records(url: str) -> list[dict[str, Any]]:
    """The journal rows of the URL's workspace, in serial order (none before the tables exist)."""
    where = parse_location(url)
    with psycopg.connect(where.conninfo, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('jobspec_journal')").fetchone() == (None,):
            return []
        rows = conn.execute(
            "SELECT record FROM jobspec_journal WHERE workspace = %s ORDER BY serial",
            [where.workspace],
        ).fetchall()
    return [record for (record,) in rows]
