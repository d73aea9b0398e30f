"""Where an endpoint writes: one model for the overlap check, plans and drift. Pure.

DryvIQ documents four forms of an endpoint's `target` (`dryviq-api.md`, third pass):
- `{"path": "/Sites/Finance"}`: a folder path;
- `{"item": {"parent": {"root": true, "name": "MASTER_TESTS"}, "name": "BOUNDARY TESTS"}}`:
  an item chain, each item naming its parent up to a root, as jobs made in the UI show it;
  it names the folder `/MASTER_TESTS/BOUNDARY TESTS` (the root's name is the first segment:
  [chosen], the docs show no path beside a chain);
- `{"item": {"id": "…"}}`: a platform item id, and `{"uri": "…"}`: neither names a folder
  jobspec can compare, so such an endpoint is *unplaced*, and said so, never skipped silently.
A `path` wins when a target has one besides an item (a clone jobspec made names its path).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

MAX_CHAIN = 64
"""Items in a chain jobspec follows; a longer one (a hostile server) is unplaced."""


class Unplaced(NamedTuple):
    """An endpoint with a connection whose target names no folder jobspec can compare."""

    why: str  # "a platform item id", "a uri", "no target", for messages


def target_folder(target: Any) -> str | Unplaced:
    """The folder a target names: its `path`, or the path its item chain spells; else Unplaced."""
    if not isinstance(target, Mapping):
        return Unplaced("no target")
    path = target.get("path")
    if type(path) is str:
        return path
    item = target.get("item")
    if isinstance(item, Mapping):
        chained = chain_path(item)
        if chained is not None:
            return chained
        return Unplaced("a platform item id" if "id" in item else "an item without a name")
    if "uri" in target:
        return Unplaced("a uri")
    return Unplaced("no path")


def chain_path(item: Mapping[str, Any]) -> str | None:
    """`/root/…/name` for an item chain whose every item has a name; None when one has none
    (an item given by id only), or the chain is longer than `MAX_CHAIN`."""
    names: list[str] = []
    node: Any = item
    while isinstance(node, Mapping) and len(names) < MAX_CHAIN:
        name = node.get("name")
        if type(name) is not str or not name.strip():
            return None
        names.append(name)
        parent = node.get("parent")
        if node.get("root") is True or parent is None:
            return "/" + "/".join(reversed(names))
        node = parent
    return None


def connection_id(endpoint: Mapping[str, Any]) -> str | None:
    """The endpoint's connection id as text; None when it has none (or one that is no id)."""
    connection = endpoint.get("connection")
    conn_id = connection.get("id") if isinstance(connection, Mapping) else None
    if (type(conn_id) is str or type(conn_id) is int) and conn_id != "":  # not bool, not None
        return str(conn_id)
    return None


def with_folders(job: dict[str, Any]) -> dict[str, Any]:
    """The job with each item-chain target given the `path` it names, so a plan compares a
    spec's path with the folder the chain names, and shows `/A/B → /A/C`, not `(unset) → /A/C`.
    The same object when no target needs it; only the mappings on the way are copied."""
    transfer = job.get("transfer")
    if not isinstance(transfer, dict):
        return job
    placed = dict(transfer)
    for side in ("source", "destination"):
        endpoint = transfer.get(side)
        target = endpoint.get("target") if isinstance(endpoint, dict) else None
        if isinstance(endpoint, dict) and isinstance(target, dict) and "path" not in target:
            folder = target_folder(target)
            if isinstance(folder, str):
                placed[side] = {**endpoint, "target": {**target, "path": folder}}
    if all(
        placed[side] is transfer.get(side) for side in ("source", "destination") if side in placed
    ):
        return job
    return {**job, "transfer": placed}


class ServerConnection(NamedTuple):
    """A connection as `GET v1/connections` lists it: what a plan checks ids against and names
    them by. `name` and `platform` are the server's text: untrusted, shown shortened."""

    id: str
    name: str | None = None
    platform: str | None = None
