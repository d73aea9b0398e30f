"""Connections (`GET v1/connections`, `GET v1/connections/{id}`), and the docshapes quirk's
reply decoration. The emulator moves no content, so a connection is a name and a platform.

The server's connections are the named ones (`demo.CONNECTIONS`, always there) and every
connection a stored job names (a job can only use a connection the server has), named after
its id. List key `connections`, single `connection`, as the vendor SDK reads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from jobspec.emulator import rules
from jobspec.emulator.auth import Principal
from jobspec.emulator.demo import CONNECTIONS, DEMO_EPOCH
from jobspec.emulator.replies import dumps, errors, int_param, json_reply
from jobspec.emulator.store import JobStore

if TYPE_CHECKING:
    from jobspec.emulator.app import Emulator

SIDES = ("source", "destination")
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000  # as the jobs list
USER_ID = "7d3f1a2b4c5e4f6a8b9c0d1e2f3a4b5c"
"""`created_by` as the documented example shows it: a user id, not a name (docshapes)."""


NAMED = {str(one["id"]): one for one in CONNECTIONS}


def record(conn_id: str) -> dict[str, Any]:
    """The connection with this id as the server keeps it: a named one, or one a job names."""
    named = NAMED.get(conn_id)
    if named is not None:
        return dict(named)
    return {
        "id": conn_id,
        "name": f"Connection {conn_id[:8]}",
        "platform": {"id": "unknown", "name": "Unknown"},
    }


def server_connections(store: JobStore) -> dict[str, dict[str, Any]]:
    """id → connection: the named ones, then every other one a stored job names."""
    found = {conn_id: dict(one) for conn_id, one in NAMED.items()}
    for stored in store.everything():
        for side in SIDES:
            ok, conn_id = rules.lookup(stored.job, ("transfer", side, "connection", "id"))
            if ok and isinstance(conn_id, str) and conn_id and conn_id not in found:
                found[conn_id] = record(conn_id)
    return found


def shown_connection(connection: dict[str, Any], reads: int) -> dict[str, Any]:
    """A connection as replies show it; its `modified_on` moves with every read (`reads`)."""
    return {
        **connection,
        "platform": {**connection.get("platform", {}), "type": "platform"},
        "group": False,
        "disabled": False,
        "modified_on": DEMO_EPOCH + reads,
        "type": "connection",
    }


def decorated(job: rules.RawJob, reads: int) -> rules.RawJob:
    """A job as the documented `fields=all` example shows it (docshapes): each endpoint's
    connection expanded, `options: null` and a moving `size_estimate` in each endpoint,
    `type: transfer` in the transfer block, `created_by` a user id, a `discriminator`."""
    shown = {**job, "created_by": USER_ID, "discriminator": "TransferJob"}
    transfer = job.get("transfer")
    if isinstance(transfer, dict):
        transfer = {**transfer, "type": "transfer"}
        for side in SIDES:
            endpoint = transfer.get(side)
            if not isinstance(endpoint, dict):
                continue
            endpoint = {"options": None, **endpoint}
            endpoint["size_estimate"] = {"bytes": 4096 * reads, "count": reads}
            connection = endpoint.get("connection")
            conn_id = connection.get("id") if isinstance(connection, dict) else None
            if isinstance(conn_id, str) and conn_id:
                endpoint["connection"] = shown_connection(record(conn_id), reads)
            transfer[side] = endpoint
        shown["transfer"] = transfer
    return shown


def undecorated(body: rules.RawJob) -> rules.RawJob:
    """A request body with an expanded connection cut to its id, as the server keeps it: the
    vendor's `createJob.js` sends the whole connection `connections.add` returned."""
    transfer = body.get("transfer")
    if not isinstance(transfer, dict):
        return body
    transfer = dict(transfer)
    for side in SIDES:
        endpoint = transfer.get(side)
        connection = endpoint.get("connection") if isinstance(endpoint, dict) else None
        if isinstance(endpoint, dict) and isinstance(connection, dict) and "id" in connection:
            transfer[side] = {**endpoint, "connection": {"id": connection["id"]}}
    return {**body, "transfer": transfer}


class ConnectionsApi:
    """The handlers of the connections routes, on one emulator's state."""

    def __init__(self, emulator: Emulator) -> None:
        self.store = emulator.store
        self._reads = 0

    def _shown(self, connection: dict[str, Any]) -> dict[str, Any]:
        self._reads += 1
        return shown_connection(connection, self._reads)

    async def list_connections(self, request: Request, principal: Principal) -> Response:
        """Every connection, paged (`offset`, `limit`), filtered by `q` (in the name) and
        `platform`; `fields` is accepted and whole connections are returned."""
        offset = int_param(request, "offset", 0, minimum=0)
        limit = min(int_param(request, "limit", DEFAULT_LIMIT, minimum=1), MAX_LIMIT)
        text = request.query_params.get("q", "").casefold()
        platform = request.query_params.get("platform")
        every = [
            one
            for one in server_connections(self.store).values()
            if text in str(one.get("name", "")).casefold()
            and (platform is None or one.get("platform", {}).get("id") == platform)
        ]
        page = [self._shown(one) for one in every[offset : offset + limit]]
        has_more = offset + len(page) < len(every)
        meta = {"offset": offset, "limit": limit, "total_count": len(every), "has_more": has_more}
        body = {"status": 200, "type": "connections", "connections": page, "meta": meta}
        return json_reply(dumps(body))

    async def get_connection(self, request: Request, principal: Principal) -> Response:
        conn_id = request.path_params["id"]
        connection = server_connections(self.store).get(conn_id)
        if connection is None:
            return errors(404, f"connection {conn_id} not found")
        body = {"status": 200, "type": "connection", "connection": self._shown(connection)}
        return json_reply(dumps(body))
