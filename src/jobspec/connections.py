"""Connections in specs: checked against the server's, and named. Pure, beside the planner.

A spec names a connection by id or by name (`connection: {name: "Box Archive"}`). Before
planning, every id must be one the server lists (a typo would otherwise surface only when the
clone fails, or as a job that fails to start for a missing connection), and every name must
match exactly one connection; the name is replaced by that id, which the plan and state record.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence

from jobspec.endpoints import ServerConnection
from jobspec.model import Connection, DesiredJob, Endpoint, JobSpec
from jobspec.plan import PlanWarning
from jobspec.scrub import shorten

SIDES = ("source", "destination")
CLOSEST = 3
ID_LIMIT = 80
"""Characters of a server's connection id shown in a message (real ones have 32)."""


def names_a_connection(desired: Iterable[DesiredJob]) -> bool:
    """Does any spec name a connection? Only then does a plan read the server's."""
    return any(_named(wanted.spec) for wanted in desired)


def resolve_connections(
    desired: Mapping[str, DesiredJob], server: Sequence[ServerConnection] | None
) -> tuple[dict[str, DesiredJob], list[str]]:
    """(the specs with every connection given by id, problems): an id the server does not
    list, or a name that matches no connection or several. `server` None: the connections
    could not be read, so ids go unchecked and names cannot be resolved."""
    by_id = {one.id: one for one in server or ()}
    resolved: dict[str, DesiredJob] = {}
    problems: list[str] = []
    for address, wanted in desired.items():
        changed: dict[str, Endpoint] = {}
        for side, endpoint, connection in _named(wanted.spec):
            where = f"{wanted.location}: {address}: transfer.{side}.connection"
            if connection.name is not None:
                found = _by_name(connection.name, server, where, problems)
                if found is not None:
                    changed[side] = endpoint.model_copy(update={"connection": Connection(id=found)})
            elif server is not None and connection.id not in by_id:
                problems.append(
                    f"{where}: connection {connection.id} does not exist on the server"
                    + _closest(str(connection.id), server)
                )
        resolved[address] = _with(wanted, changed) if changed else wanted
    return resolved, problems


def unchecked(desired: Iterable[DesiredJob]) -> list[PlanWarning]:
    """Warnings for the specs naming connection ids when the server lists no connections
    (404): those ids could not be checked, and a typo shows only when the clone is made."""
    return [
        PlanWarning(
            address=wanted.address,
            location=str(wanted.location),
            message=f"transfer.{side}.connection {connection.id} was not checked: the server "
            "lists no connections (GET v1/connections answered 404)",
        )
        for wanted in desired
        for side, _, connection in _named(wanted.spec)
        if connection.id is not None
    ]


def connection_names(
    server: Sequence[ServerConnection] | None, ids: Iterable[str]
) -> dict[str, str]:
    """id → name for the ids the server names (shortened: a server's text)."""
    by_id = {one.id: one for one in server or ()}
    return {
        conn_id: shorten(by_id[conn_id].name or "")
        for conn_id in sorted(set(ids))
        if conn_id in by_id and by_id[conn_id].name
    }


def _named(spec: JobSpec) -> list[tuple[str, Endpoint, Connection]]:
    transfer = spec.overrides.transfer
    found = []
    for side in SIDES:
        endpoint = getattr(transfer, side) if transfer is not None else None
        if endpoint is not None and endpoint.connection is not None:
            found.append((side, endpoint, endpoint.connection))
    return found


def _by_name(
    name: str, server: Sequence[ServerConnection] | None, where: str, problems: list[str]
) -> str | None:
    if server is None:
        problems.append(
            f"{where}: names connection {name!r}, but the server lists no connections "
            "(GET v1/connections answered 404): give the connection's id"
        )
        return None
    matches = [one for one in server if one.name == name]
    if len(matches) == 1:
        return matches[0].id
    if matches:
        ids = ", ".join(shorten(one.id, ID_LIMIT) for one in matches[:CLOSEST])
        ids += f" and {len(matches) - CLOSEST} more" if len(matches) > CLOSEST else ""
        problems.append(
            f"{where}: {len(matches)} connections are named {name!r} ({ids}): give the id"
        )
        return None
    names = [one.name for one in server if one.name]
    close = difflib.get_close_matches(name, names, n=CLOSEST, cutoff=0.5)
    hint = f"; closest: {', '.join(repr(shorten(c)) for c in close)}" if close else ""
    problems.append(f"{where}: no connection is named {name!r}{hint}")
    return None


def _closest(wanted: str, server: Sequence[ServerConnection]) -> str:
    """`; closest: id "name", …`: the ids sharing the longest prefix with `wanted`, else the
    most similar ones."""

    def shared(one: ServerConnection) -> int:
        n = 0
        for a, b in zip(one.id.casefold(), wanted.casefold(), strict=False):
            if a != b:
                break
            n += 1
        return n

    ranked = sorted(server, key=lambda one: (-shared(one), one.id))
    close = [one for one in ranked if shared(one) > 0][:CLOSEST]
    if not close:
        similar = difflib.get_close_matches(wanted, [one.id for one in server], n=CLOSEST)
        close = [one for one in server if one.id in similar]
    if not close:
        return ""
    shown = ", ".join(
        f"{shorten(one.id, ID_LIMIT)} {shorten(one.name)!r}"
        if one.name
        else shorten(one.id, ID_LIMIT)
        for one in close
    )
    return f"; closest: {shown}"


def _with(wanted: DesiredJob, changed: Mapping[str, Endpoint]) -> DesiredJob:
    """The desired job with the endpoints in `changed` replaced."""
    overrides = wanted.spec.overrides
    assert overrides.transfer is not None
    transfer = overrides.transfer.model_copy(update=dict(changed))
    spec = wanted.spec.model_copy(
        update={"overrides": overrides.model_copy(update={"transfer": transfer})}
    )
    return wanted.model_copy(update={"spec": spec})
