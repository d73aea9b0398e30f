"""What each live job is to jobspec, and which jobs a connection or path selects. Pure.

A storage migration is "every job that uses connection X": `generate` and `jobs` select by
connection (either side, or one side) and by path prefix. `jobs` shows each job's role: the
clone of an address (known to state, or by its clone name alone when state lost it), the
original a clone replaced, the source a spec clones, or unmanaged. `generate` never offers a
spec for a job that is, by name, an address's clone (a clone of a clone).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jobspec.model import DesiredJob, LiveJob, OriginalPolicy, StateEntry
from jobspec.naming import default_clone_name, name_key

__all__ = ["JobFilter", "clone_names", "roles"]

SIDES = ("source", "destination")


def _endpoint(raw: Mapping[str, Any], side: str) -> Mapping[str, Any]:
    transfer = raw.get("transfer")
    endpoint = transfer.get(side) if isinstance(transfer, dict) else None
    return endpoint if isinstance(endpoint, dict) else {}


def connection_of(raw: Mapping[str, Any], side: str) -> str | None:
    """The connection id one side of a job uses, as text (the server may send a number)."""
    connection = _endpoint(raw, side).get("connection")
    ident = connection.get("id") if isinstance(connection, dict) else None
    return str(ident) if isinstance(ident, str | int) and not isinstance(ident, bool) else None


def path_of(raw: Mapping[str, Any], side: str) -> str | None:
    target = _endpoint(raw, side).get("target")
    path = target.get("path") if isinstance(target, dict) else None
    return path if isinstance(path, str) else None


def under(path: str, prefix: str) -> bool:
    """Is `path` the folder `prefix` or inside it? `/Sites/Fin` is not under `/Sites/F`."""
    base = prefix.rstrip("/")
    if not base:
        return path.startswith("/")
    return path == base or path.startswith(base + "/")


@dataclass(frozen=True, kw_only=True)
class JobFilter:
    """`--connection` (either side), `--source-connection`, `--destination-connection` and
    `--path-prefix` (on the sides the connection flags name, else either side): all given
    must match."""

    connection: str | None = None
    source_connection: str | None = None
    destination_connection: str | None = None
    path_prefix: str | None = None

    @property
    def flags(self) -> dict[str, str]:
        shown = {
            "--connection": self.connection,
            "--source-connection": self.source_connection,
            "--destination-connection": self.destination_connection,
            "--path-prefix": self.path_prefix,
        }
        return {flag: value for flag, value in shown.items() if value is not None}

    def picks(self, job: LiveJob) -> bool:
        raw = job.raw
        used = {side: connection_of(raw, side) for side in SIDES}
        wanted = self.connection.strip() if self.connection is not None else None
        if wanted is not None and wanted not in used.values():
            return False
        sides = []
        for side, given in (
            ("source", self.source_connection),
            ("destination", self.destination_connection),
        ):
            if given is not None:
                if used[side] != given.strip():
                    return False
                sides.append(side)
        if self.path_prefix is None:
            return True
        if wanted is not None and not sides:
            sides = [side for side in SIDES if used[side] == wanted]
        paths = [path_of(raw, side) for side in (sides or SIDES)]
        return any(path is not None and under(path, self.path_prefix) for path in paths)


def clone_names(
    *,
    desired: Mapping[str, DesiredJob],
    prior: Mapping[str, StateEntry],
    live: Mapping[str, LiveJob],
) -> dict[str, str]:
    """Clone name (in `name_key` form) → the address whose clone bears it: each spec's (its
    own name, or its source's name with the address), then each state entry's live clone's."""
    names: dict[str, str] = {}
    for address, wanted in sorted(desired.items()):
        name = wanted.spec.overrides.name
        source = live.get(wanted.spec.source)
        if name is None and source is not None:
            name = default_clone_name(base_name=source.name, address=address)
        if name is not None:
            names.setdefault(name_key(name), address)
    for address, entry in sorted(prior.items()):
        clone = live.get(entry.clone_id)
        if clone is not None:
            names.setdefault(name_key(clone.name), address)
    return names


def roles(
    *,
    jobs: Sequence[LiveJob],
    desired: Mapping[str, DesiredJob],
    prior: Mapping[str, StateEntry],
    live: Mapping[str, LiveJob],
) -> dict[str, str]:
    """Job id → what it is to jobspec: `the clone of ADDRESS` (state), `the clone of ADDRESS
    (by name; not in state)`, `a replaced clone of ADDRESS`, `the original of ADDRESS` (its
    clone replaced it: retired or to be), `the source of ADDRESS` (cloned, kept as it is, or
    not cloned yet), or `unmanaged`."""
    found: dict[str, list[str]] = {}

    def add(job_id: str, role: str) -> None:
        if role not in found.setdefault(job_id, []):
            found[job_id].append(role)

    for address, entry in sorted(prior.items()):
        add(entry.clone_id, f"the clone of {address}")
        for old in (*entry.superseded, *entry.retired_clones):
            add(old, f"a replaced clone of {address}")
    sources: dict[str, list[tuple[str, OriginalPolicy]]] = {}
    for address, entry in sorted(prior.items()):
        sources.setdefault(entry.source_id, []).append((address, entry.original))
    for address, wanted in sorted(desired.items()):
        if address not in prior:
            sources.setdefault(wanted.spec.source, []).append((address, wanted.spec.original))
    for job_id, users in sources.items():
        for address, policy in users:
            kept = policy is OriginalPolicy.keep or address not in prior
            add(job_id, f"the {'source' if kept else 'original'} of {address}")
    by_name = clone_names(desired=desired, prior=prior, live=live)
    result = {}
    for job in jobs:
        named = found.get(job.id)
        if named is None:
            owner = by_name.get(name_key(job.name))
            known = owner is not None and owner in prior and prior[owner].clone_id == job.id
            named = [f"the clone of {owner} (by name; not in state)"] if owner and not known else []
        result[job.id] = "; ".join(named) or "unmanaged"
    return result
